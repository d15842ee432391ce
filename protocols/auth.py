"""Login over REST: email and password for a short-lived access JWT."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from protocols.wire import WireModel


class LoginRequest(WireModel):
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(WireModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
