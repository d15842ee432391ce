"""The study-library platform's services, held together in one app key."""

from __future__ import annotations

from dataclasses import dataclass

from hub.attendance import AttendanceService
from hub.seat_plans import SeatPlans
from hub.students import StudentService


@dataclass(frozen=True)
class Library:
    plans: SeatPlans
    attendance: AttendanceService
    students: StudentService
