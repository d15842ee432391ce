"""Students of a study library: bulk import from CSV (every row or none) and fee-due notices.

CSV: a header row naming the columns ``name`` and ``phone`` (required), ``email`` and
``language`` (optional), in any order and case; one student per line. Every row is checked
(name present, an Indian mobile normalized to E.164, a plausible email, a two-letter language,
no phone or email twice in the file or already registered anywhere on the platform). Any bad
row refuses the whole file with one ``invalid`` error listing every bad row with its line
number; otherwise all students are created in one transaction.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from typing import Any
from uuid import UUID

import asyncpg

from hub.auth import Principal
from protocols.auth import normalize_indian_mobile
from protocols.errors import Conflict, Invalid, NotFound
from protocols.library import MAX_IMPORT_ROWS, FeeDue
from protocols.wire import parse_iso_date
from storage import audit, notifications, students
from storage.audit import AuditContext
from storage.tenancy import tenant_scope

_COLUMNS = {"name", "phone", "email", "language"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")


class StudentService:
    def __init__(self, *, db: asyncpg.Pool) -> None:
        self._db = db

    async def import_csv(
        self, principal: Principal, body: bytes, key: str | None, ctx: AuditContext
    ) -> tuple[dict[str, Any], bool]:
        """(the answer, whether students were created now). With ``key``, the same file sent
        again answers the stored result; another file under the same key is Conflict."""
        tenant_id = _staff_tenant(principal)
        digest = hashlib.sha256(body).hexdigest()
        if key is not None:
            async with tenant_scope(self._db, tenant_id, readonly=True) as conn:
                stored = await students.stored_import(conn, tenant_id=tenant_id, key=key)
            if stored is not None:
                if stored[0] != digest:
                    raise Conflict(
                        "this idempotency key was used for another file",
                        {"reason": "exists_with_different_fields"},
                    )
                return stored[1], False
        rows, errors = _parse(body)
        phones = [r.phone for r in rows]
        emails = [r.email for r in rows if r.email]
        async with self._db.acquire() as conn:
            taken_phones, taken_emails = await students.taken_contacts(
                conn, phones=phones, emails=emails
            )
        for row in rows:
            if row.phone in taken_phones:
                errors.append(_error(row.line, "phone", "already_registered"))
            if row.email and row.email.lower() in taken_emails:
                errors.append(_error(row.line, "email", "already_registered"))
        if errors:
            errors.sort(key=lambda e: (e["line"], e["field"]))
            bad_lines = {e["line"] for e in errors}
            raise Invalid(
                f"{len(bad_lines)} row(s) are invalid; nothing was imported",
                {"reason": "rows_invalid", "rows": errors, "invalid_rows": len(bad_lines)},
            )
        async with tenant_scope(self._db, tenant_id) as conn:
            ids = await students.insert_students(conn, tenant_id=tenant_id, students=rows)
            result = {
                "imported": len(ids),
                "students": [
                    {
                        "line": r.line,
                        "user_id": str(i),
                        "name": r.name,
                        "phone": r.phone,
                        "email": r.email,
                        "language": r.language,
                    }
                    for r, i in zip(rows, ids, strict=True)
                ],
            }
            await audit.record(
                conn,
                ctx,
                tenant_id=tenant_id,
                action="students.imported",
                entity="tenant",
                entity_id=tenant_id,
                after={"imported": len(ids), "user_ids": [str(i) for i in ids]},
            )
            if key is not None:
                await students.store_import(
                    conn,
                    tenant_id=tenant_id,
                    key=key,
                    body_sha256=digest,
                    result=result,
                    by_user_id=principal.user_id,
                )
        return result, True

    async def fee_due(
        self, principal: Principal, user_id: UUID, request: FeeDue, ctx: AuditContext
    ) -> tuple[dict[str, Any], bool]:
        """Queue a ``fee_due`` notification for the student (inbox, socket, and the student's
        channels, SMS by its DLT template included — each spends one of the tenant's messaging
        credits); once per key."""
        tenant_id = _staff_tenant(principal)
        try:
            due = parse_iso_date(request.due_date)
        except ValueError as exc:
            raise Invalid("due_date is not a date", {"loc": ["body", "due_date"]}) from exc
        async with tenant_scope(self._db, tenant_id) as conn:
            if not await students.is_student(conn, tenant_id=tenant_id, user_id=user_id):
                raise NotFound("no such student", {"user_id": str(user_id)})
            notice, made = await students.record_fee_notice(
                conn,
                tenant_id=tenant_id,
                user_id=user_id,
                key=request.idempotency_key,
                amount_paise=request.amount_paise,
                due_date=due,
                by_user_id=principal.user_id,
            )
            if (notice.amount_paise, notice.due_date) != (request.amount_paise, due):
                raise Conflict(
                    "this idempotency key was used for another fee notice",
                    {"reason": "exists_with_different_fields"},
                )
            if made:
                await notifications.enqueue(
                    conn,
                    tenant_id=tenant_id,
                    user_id=user_id,
                    kind="fee_due",
                    data={"amount_paise": notice.amount_paise, "due_date": due.isoformat()},
                    dedupe_key=f"fee_due:{tenant_id}:{user_id}:{request.idempotency_key}",
                )
                await audit.record(
                    conn,
                    ctx,
                    tenant_id=tenant_id,
                    action="student.fee_due_sent",
                    entity="user",
                    entity_id=user_id,
                    after=notice.wire(),
                )
        return {**notice.wire(), "kind": "fee_due"}, made


def _staff_tenant(principal: Principal) -> UUID:
    if principal.tenant_id is None:
        raise Invalid("act as a library's staff (platform operators have no tenant here)")
    return principal.tenant_id


def _error(line: int, field: str, reason: str, **more: Any) -> dict[str, Any]:
    return {"line": line, "field": field, "reason": reason, **more}


def _parse(body: bytes) -> tuple[list[students.NewStudent], list[dict[str, Any]]]:
    """The valid rows and an error per bad field (``line`` counts the header as line 1)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid("the file is not UTF-8 text", {"reason": "not_utf8"}) from exc
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration as exc:
        raise Invalid("the file is empty", {"reason": "empty"}) from exc
    except csv.Error as exc:
        raise Invalid("the file is not CSV", {"reason": "not_csv"}) from exc
    names = [h.strip().lower() for h in header]
    unknown = sorted(set(names) - _COLUMNS)
    if unknown or "name" not in names or "phone" not in names or len(set(names)) != len(names):
        raise Invalid(
            "the header must name the columns name, phone and optionally email, language",
            {"reason": "bad_header", "unknown": unknown},
        )
    rows: list[students.NewStudent] = []
    errors: list[dict[str, Any]] = []
    seen_phones: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) + len({e["line"] for e in errors}) >= MAX_IMPORT_ROWS:
                raise Invalid(
                    f"at most {MAX_IMPORT_ROWS} students per file",
                    {"reason": "too_many_rows", "max": MAX_IMPORT_ROWS},
                )
            if len(record) != len(names):
                errors.append(_error(line, "*", "wrong_number_of_columns"))
                continue
            cells = {n: c.strip() for n, c in zip(names, record, strict=True)}
            before = len(errors)
            name = cells["name"]
            if not name or len(name) > 200:
                errors.append(_error(line, "name", "missing" if not name else "too_long"))
            phone = ""
            try:
                phone = normalize_indian_mobile(cells["phone"])
            except ValueError:
                errors.append(_error(line, "phone", "not_an_indian_mobile"))
            else:
                if phone in seen_phones:
                    errors.append(
                        _error(line, "phone", "duplicate_in_file", first_line=seen_phones[phone])
                    )
                seen_phones.setdefault(phone, line)
            email = cells.get("email") or None
            if email is not None:
                if len(email) > 254 or not _EMAIL.match(email):
                    errors.append(_error(line, "email", "not_an_email"))
                elif email.lower() in seen_emails:
                    first = seen_emails[email.lower()]
                    errors.append(_error(line, "email", "duplicate_in_file", first_line=first))
                seen_emails.setdefault((email or "").lower(), line)
            language = (cells.get("language") or "en").lower()
            if not _LANGUAGE.match(language):
                errors.append(_error(line, "language", "not_a_two_letter_code"))
            if len(errors) == before:
                rows.append(students.NewStudent(line, name, phone, email, language))
    except csv.Error as exc:
        raise Invalid(
            "the file is not CSV", {"reason": "not_csv", "line": reader.line_num}
        ) from exc
    if not rows and not errors:
        raise Invalid("the file has no students", {"reason": "empty"})
    return rows, errors
