"""The hub's log line contract: one masked JSON object per line, carrying the request context.

Shared by the hub (``hub/logs.py`` installs it) and the shard processes (``actors/``), which
may not import the hub. Three parts:

- the **log context**: a context variable holding ``request_id``, ``socket_id``,
  ``tenant_id``, ``user_id`` (and ``request_ids`` for a shard batch). The request middleware
  and the socket event wrapper bind it; :class:`actors.pool.ShardPool` sends it with each
  command, and the shard binds it while it applies the batch.
- :class:`MaskingFilter`: rewrites every record it sees (the formatted message, and every extra
  field) so tokens, secrets, card numbers, phone numbers and e-mail local parts never reach a
  log line. See :func:`mask_text` and :func:`mask_value` for the exact rules.
- :class:`JsonFormatter`: ``{"ts", "level", "logger", "message", "request_id", "socket_id",
  "tenant_id", "user_id", ...extra fields, "exc"?}`` on one line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("request_id", "socket_id", "tenant_id", "user_id")
"""Always present in a JSON line (``null`` when unknown)."""

_LOG_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("seva_log_context", default=None)


def current_log_context() -> dict[str, Any]:
    """A copy of the fields bound in this task (empty outside a request or event)."""
    bound = _LOG_CONTEXT.get()
    return dict(bound) if bound else {}


def bind_log_context(**fields: Any) -> Token[dict[str, Any] | None]:
    """Start a fresh context with ``fields`` (values of None are left out); returns the token
    for :func:`reset_log_context`."""
    return _LOG_CONTEXT.set({k: str(v) for k, v in fields.items() if v is not None})


def update_log_context(**fields: Any) -> None:
    """Add fields to the context bound by an outer caller, in place, so the outer caller's
    later log lines (an error middleware's) carry them too. No-op when nothing is bound."""
    bound = _LOG_CONTEXT.get()
    if bound is not None:
        bound.update({k: str(v) for k, v in fields.items() if v is not None})


def reset_log_context(token: Token[dict[str, Any] | None]) -> None:
    _LOG_CONTEXT.reset(token)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    token = bind_log_context(**fields)
    try:
        yield
    finally:
        _LOG_CONTEXT.reset(token)


# -- masking -------------------------------------------------------------------------------------

MASK = "[masked]"
SECRET_NAME = re.compile(
    r"pass(word|wd)?|secret|token|key|authori[sz]ation|cookie|cvv|signature|(?<![a-z])(otp|pin)(?![a-z])",
    re.I,
)
"""A field whose name matches this holds a secret: its whole value is masked."""

_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
# ``name=value`` / ``name: value`` / ``"name": "value"`` where the name (a whole token: the
# lookbehind keeps the scan linear) contains a secret word.
_SECRET_PAIR = re.compile(
    r"""(?ix)
    (?P<name>(?<![\w.-])["']?
        (?=[\w.-]*?(?:pass(?:word|wd)?|secret|token|key|authori[sz]ation|cookie|cvv|signature
                    |(?<![a-z])(?:otp|pin)(?![a-z])))
        [\w.-]+["']?)
    (?P<sep>\s*[:=]\s*)
    (?P<value>"[^"]*"|'[^']*'|(?!\[masked\])[^\s,;&}\])]+)
    """
)
_TEN_DIGITS = re.compile(r"\d(?:[ -]?\d){9}")  # every card or phone number has 10 digits
_CARD = re.compile(r"(?<![\w.-])(?:\d[ -]?){12,18}\d(?![\w.-])")
_PHONE = re.compile(r"(?<![\w+])(?:(?:\+|00)?91[ -]?|0)?[6-9]\d{4}[ -]?\d{5}(?!\w)")
_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _looks_like_epoch(digits: str) -> bool:
    # Epoch milliseconds, microseconds and nanoseconds of 2001-2286 (Ray's
    # ``_ray_timestamp_ns``, our own ``*_ms`` fields) start with 1 and are 13, 16 or 19 digits
    # long; no card network issues numbers of those lengths starting with 1.
    return digits[0] == "1" and len(digits) in (13, 16, 19)


def _mask_card(match: re.Match[str]) -> str:
    """A card number passes the Luhn check; other long digit runs (ids, timestamps) are
    left alone so logs stay useful. A card number always passes it, so none leaks."""
    digits = _digits(match.group(0))
    if not _luhn_ok(digits) or _looks_like_epoch(digits):
        return match.group(0)
    return f"[card ****{digits[-4:]}]"


def _mask_phone(match: re.Match[str]) -> str:
    return f"[phone ******{_digits(match.group(0))[-2:]}]"


def _mask_pair(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[:1] in {'"', "'"} else ""
    return f"{match.group('name')}{match.group('sep')}{quote}{MASK}{quote}"


def mask_text(text: str) -> str:
    """Mask secrets inside free text:

    - JWTs (``eyJ….….…``) → ``[masked]``; ``Bearer <anything>`` / ``Basic <anything>`` →
      ``Bearer [masked]``;
    - ``name=value`` / ``name: value`` / ``"name": "value"`` where the name contains
      password, secret, token, key, authorization, cookie, otp, cvv or signature → the value
      becomes ``[masked]``;
    - card numbers (13 to 19 digits, spaces or dashes allowed) → ``[card ****1234]`` (last 4);
    - Indian mobile numbers (10 digits starting 6 to 9, optional +91/91/0091 or 0) →
      ``[phone ******10]`` (last 2);
    - e-mail addresses → first letter of the local part: ``r***@example.com``.
    """
    # Each pass only when its cheap precondition holds: most lines need none of them.
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    if "=" in text or ":" in text:
        text = _SECRET_PAIR.sub(_mask_pair, text)
    if "eyJ" in text:
        text = _JWT.sub(MASK, text)
    if _TEN_DIGITS.search(text):
        text = _CARD.sub(_mask_card, text)
        text = _PHONE.sub(_mask_phone, text)
    if "@" in text:
        text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return text


def mask_value(name: str, value: Any) -> Any:
    """An extra field's value: all masked when ``name`` names a secret, else strings masked
    with :func:`mask_text`, containers walked (dict keys name their values)."""
    if SECRET_NAME.search(name):
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {str(k): mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(name, v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= 10:
            return mask_text(str(value))  # a phone or card number passed as an int
        return value
    return mask_text(str(value))


_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller passed with ``extra=`` (everything not standard on a record)."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


class MaskingFilter(logging.Filter):
    """Masks a record in place (message with its args merged, extras, exception text); attach
    it to every handler so records propagated from any logger pass through it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_seva_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the line
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = mask_text(message)
        record.args = None
        for name, value in extra_fields(record).items():
            setattr(record, name, mask_value(name, value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        record.exc_info = None  # formatted (and masked) above
        record._seva_masked = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the context fields come from the record's extras first (a
    caller may pass ``extra={"tenant_id": ...}``), else from the bound log context."""

    def format(self, record: logging.LogRecord) -> str:
        context = current_log_context()
        extras = {k: v for k, v in extra_fields(record).items() if k != "_seva_masked"}
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            line[name] = extras.pop(name, None) or context.get(name)
        for name, value in context.items():
            if name not in line:
                line[name] = value
        for name, value in extras.items():
            line.setdefault(name, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``ts LEVEL logger: message [request_id=… user_id=…]`` for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = current_log_context()
        if context:
            text += " [" + " ".join(f"{k}={v}" for k, v in sorted(context.items())) + "]"
        return text


def json_handler(stream: Any = None, *, json_lines: bool = True) -> logging.Handler:
    """A stream handler (stderr by default) with the masking filter and the chosen format."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    return handler
