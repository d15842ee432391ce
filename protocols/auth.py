"""Accounts over REST: register, login, refresh, logout, profile."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import AfterValidator, Field, model_validator

from protocols.wire import WireModel

PASSWORD_MIN_LENGTH = 10
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_PHONE_NOISE = re.compile(r"[\s\-().]")


def normalize_indian_mobile(raw: str) -> str:
    """An Indian mobile number in E.164 (``+91`` and ten digits starting 6-9).

    Accepts what people type: ``98765 43210``, ``098765-43210``, ``+91 98765 43210``,
    ``919876543210``. Raises ValueError otherwise.
    """
    digits = _PHONE_NOISE.sub("", raw)
    if digits.startswith("+91"):
        digits = digits[3:]
    elif digits.startswith("91") and len(digits) == 12:
        digits = digits[2:]
    elif digits.startswith("0") and len(digits) == 11:
        digits = digits[1:]
    if not re.fullmatch(r"[6-9]\d{9}", digits):
        raise ValueError("not an Indian mobile number (10 digits starting with 6-9)")
    return "+91" + digits


def check_password_policy(password: str) -> str:
    """At least 10 characters, and not all of one class (letters, digits, symbols)."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise ValueError(f"password must have at least {PASSWORD_MIN_LENGTH} characters")
    classes = {
        "lower": any(c.islower() for c in password),
        "upper": any(c.isupper() for c in password),
        "digit": any(c.isdigit() for c in password),
        "other": any(not c.isalnum() for c in password),
    }
    if sum(classes.values()) < 2:
        raise ValueError(
            "password must mix at least two kinds of characters "
            "(lowercase, uppercase, digits, symbols)"
        )
    return password


def _check_email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value


Email = Annotated[str, Field(min_length=3, max_length=254), AfterValidator(_check_email)]
Phone = Annotated[str, Field(min_length=10, max_length=20), AfterValidator(normalize_indian_mobile)]
Password = Annotated[str, Field(max_length=1024), AfterValidator(check_password_policy)]
Language = Annotated[str, Field(pattern=r"^[a-z]{2}$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class RegisterRequest(WireModel):
    tenant_id: UUID
    email: Email | None = None
    phone: Phone | None = None
    name: Name
    password: Password
    language: Language = "en"

    @model_validator(mode="after")
    def _email_or_phone(self) -> Self:
        if self.email is None and self.phone is None:
            raise ValueError("give an email, a phone number, or both")
        return self


class LoginRequest(WireModel):
    email: Annotated[str, Field(min_length=3, max_length=254)] | None = None
    phone: Phone | None = None
    password: str = Field(min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _one_identifier(self) -> Self:
        if (self.email is None) == (self.phone is None):
            raise ValueError("give either email or phone")
        return self


class RefreshRequest(WireModel):
    refresh_token: str = Field(min_length=16, max_length=200)


class TokenResponse(WireModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_in: int | None = None


class MeView(WireModel):
    user_id: UUID
    tenant_id: UUID | None
    email: str | None
    phone: str | None
    name: str
    role: str
    language: str
    permissions: list[str]


class UpdateMe(WireModel):
    name: Name | None = None
    language: Language | None = None
    phone: Phone | None = None
    email: Email | None = None
