"""What each notification type says on each channel, in English and Hindi.

Three registries, one entry per notification type (``protocols.notifications.NotificationType``)
and language; a language without an entry falls back to English:

- **email** (``_EMAIL``): a subject and a body; :func:`render_email` adds the links in
  ``data`` (``report_url``, ``download_url``, ``stream_url`` — files travel as links, never as
  attachments) and makes the plain text and the HTML part (every parameter HTML-escaped).
- **SMS** (``SMS_TEMPLATES``): templates registered on the DLT platform (TRAI's rules: an SMS
  to an Indian number is delivered only if its text matches a template registered for its
  sender header, with ``{#var#}`` where a value goes, at most 30 characters each). Each entry
  carries the DLT template id, the 6-character sender header, the text exactly as registered,
  and the MSG91 flow template that carries it (its variables ``VAR1``, ``VAR2``, ... in the
  order of the ``{#var#}`` s). ``system`` notices (free text) and ``credits_low`` have none and
  are refused (``template_not_registered``).
- **WhatsApp** (``WHATSAPP_TEMPLATES``): the name of a template approved by Meta, the language
  codes it is approved in, and the data keys of its body parameters ``{{1}}``, ``{{2}}``, ...

The ids and names below are Seva Hub's own registrations; a deployment sending from its own DLT
entity or WhatsApp business account registers the same texts and changes the ids here.

Parameters: ``booking_ref`` (``data["booking_ref"]``, else the first 8 characters of
``data["booking_id"]`` — or of ``data["plan_id"]`` for a seat plan — upper-cased), ``rupees``
(from ``amount_paise``, exact), the dates ``due_date`` and ``plan_ends_on`` (``YYYY-MM-DD`` in
``data``, shown ``DD-MM-YYYY``), ``title`` / ``body`` (``system``), and the links. A missing
parameter renders empty, as in the inbox.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any, get_args
from urllib.parse import urlsplit

from protocols.channels.interface import ChannelName, PermanentChannelError
from protocols.notifications import DATE_KEYS, NotificationType, indian_date

DEFAULT_LANGUAGE = "en"
NOTIFICATION_TYPES: tuple[str, ...] = get_args(NotificationType)
DLT_VAR_MAX_CHARS = 30
DLT_PLACEHOLDER = "{#var#}"
BRAND = {"en": "Seva Hub", "hi": "सेवा हब"}
LINK_KEYS: tuple[str, ...] = ("report_url", "download_url", "stream_url")
_LINK_LABELS = {
    "en": {"report_url": "Puja report", "download_url": "Download", "stream_url": "Watch live"},
    "hi": {"report_url": "पूजा रिपोर्ट", "download_url": "डाउनलोड", "stream_url": "लाइव देखें"},
}


# --- email ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailText:
    subject: str
    body: str


_EMAIL: dict[str, dict[str, EmailText]] = {
    "booking_confirmed": {
        "en": EmailText("Booking confirmed", "Your booking {booking_ref} is confirmed."),
        "hi": EmailText("बुकिंग की पुष्टि हुई", "आपकी बुकिंग {booking_ref} की पुष्टि हो गई है।"),
    },
    "booking_cancelled": {
        "en": EmailText("Booking cancelled", "Your booking {booking_ref} was cancelled."),
        "hi": EmailText("बुकिंग रद्द हुई", "आपकी बुकिंग {booking_ref} रद्द कर दी गई है।"),
    },
    "booking_rescheduled": {
        "en": EmailText(
            "Booking rescheduled", "Your booking {booking_ref} has been moved to a new time."
        ),
        "hi": EmailText("बुकिंग का समय बदला", "आपकी बुकिंग {booking_ref} का समय बदल दिया गया है।"),
    },
    "booking_reminder": {
        "en": EmailText("Reminder", "Your booking {booking_ref} starts soon."),
        "hi": EmailText("अनुस्मारक", "आपकी बुकिंग {booking_ref} जल्द ही शुरू होगी।"),
    },
    "puja_started": {
        "en": EmailText("Puja started", "Your puja for booking {booking_ref} has started."),
        "hi": EmailText("पूजा शुरू हुई", "बुकिंग {booking_ref} की आपकी पूजा शुरू हो गई है।"),
    },
    "puja_completed": {
        "en": EmailText("Puja completed", "Your puja for booking {booking_ref} is complete."),
        "hi": EmailText("पूजा सम्पन्न हुई", "बुकिंग {booking_ref} की आपकी पूजा सम्पन्न हो गई है।"),
    },
    "puja_report_ready": {
        "en": EmailText(
            "Puja report ready", "The report of your puja for booking {booking_ref} is ready."
        ),
        "hi": EmailText("पूजा रिपोर्ट तैयार है", "बुकिंग {booking_ref} की आपकी पूजा की रिपोर्ट तैयार है।"),
    },
    "stream_started": {
        "en": EmailText("Live now", "The live stream of your booking {booking_ref} has started."),
        "hi": EmailText("अब लाइव", "आपकी बुकिंग {booking_ref} का लाइव प्रसारण शुरू हो गया है।"),
    },
    "payment_success": {
        "en": EmailText(
            "Payment received", "We received ₹{rupees} for your booking {booking_ref}."
        ),
        "hi": EmailText("भुगतान प्राप्त हुआ", "आपकी बुकिंग {booking_ref} के लिए हमें ₹{rupees} प्राप्त हुए।"),
    },
    "payment_failed": {
        "en": EmailText(
            "Payment failed", "Your payment for booking {booking_ref} did not go through."
        ),
        "hi": EmailText("भुगतान विफल", "बुकिंग {booking_ref} के लिए आपका भुगतान पूरा नहीं हो सका।"),
    },
    "refund_processed": {
        "en": EmailText(
            "Refund processed", "₹{rupees} for booking {booking_ref} is on its way back to you."
        ),
        "hi": EmailText(
            "रिफ़ंड की प्रक्रिया पूरी हुई",
            "बुकिंग {booking_ref} के ₹{rupees} आपको वापस भेजे जा रहे हैं।",
        ),
    },
    "credits_low": {
        "en": EmailText(
            "Messaging credits low",
            "Your messaging credits are running low. Top up to keep notifying your devotees "
            "and customers.",
        ),
        "hi": EmailText(
            "मैसेजिंग क्रेडिट कम हैं",
            "आपके मैसेजिंग क्रेडिट कम हो रहे हैं। अपने भक्तों और ग्राहकों को सूचनाएँ भेजते रहने के लिए रिचार्ज करें।",
        ),
    },
    # A system notice carries its own text in every language.
    "system": {"en": EmailText("{title}", "{body}"), "hi": EmailText("{title}", "{body}")},
    "fee_due": {
        "en": EmailText("Fee due", "Your fee of ₹{rupees} is due on {due_date}."),
        "hi": EmailText("फ़ीस देय है", "आपकी ₹{rupees} की फ़ीस {due_date} तक देय है।"),
    },
    "plan_renewal": {
        "en": EmailText(
            "Seat plan ending soon",
            "Your seat plan ends on {plan_ends_on}. Renew it to keep your seat.",
        ),
        "hi": EmailText(
            "सीट योजना जल्द समाप्त होगी",
            "आपकी सीट योजना {plan_ends_on} को समाप्त हो रही है। "
            "अपनी सीट बनाए रखने के लिए इसे नवीनीकृत करें।",
        ),
    },
    "waitlist_offer": {
        "en": EmailText(
            "A place is free for you",
            "{qty} place(s) you waited for are held for you (ref {booking_ref}). "
            "Pay before the offer expires, or they go to the next devotee in the queue.",
        ),
        "hi": EmailText(
            "आपके लिए स्थान उपलब्ध है",
            "जिन {qty} स्थानों की आप प्रतीक्षा कर रहे थे, वे आपके लिए रोके गए हैं "
            "(संदर्भ {booking_ref})। प्रस्ताव समाप्त होने से पहले भुगतान करें, अन्यथा वे "
            "प्रतीक्षा सूची में अगले भक्त को मिलेंगे।",
        ),
    },
}


@dataclass(frozen=True)
class RenderedEmail:
    language: str
    subject: str
    text: str
    html: str


def render_email(kind: str, language: str, data: dict[str, Any]) -> RenderedEmail:
    """Subject, plain text and HTML of ``kind`` in ``language`` (else English).

    Raises :class:`PermanentChannelError`: ``template_not_registered`` for an unknown kind,
    ``invalid_data`` for a link that is not ``http(s)``.
    """
    language, entry = _pick(_EMAIL, "email", kind, language)
    values = _values(data)
    subject = " ".join(entry.subject.format_map(values).split())  # no header folding tricks
    body = entry.body.format_map(values)
    links = _links(data, language)
    brand = BRAND.get(language, BRAND[DEFAULT_LANGUAGE])

    text_parts = [body]
    if links:
        text_parts.append("\n".join(f"{label}: {url}" for label, url in links))
    text_parts.append(f"— {brand}")
    text = "\n\n".join(text_parts) + "\n"

    body_html = html.escape(body).replace("\n", "<br>\n")
    links_html = "".join(
        f'<p><a href="{html.escape(url, quote=True)}">{html.escape(label)}</a></p>\n'
        for label, url in links
    )
    page = (
        "<!DOCTYPE html>\n"
        f'<html lang="{language}">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n<body>\n"
        f"<p>{body_html}</p>\n{links_html}<p>— {html.escape(brand)}</p>\n</body>\n</html>\n"
    )
    return RenderedEmail(language=language, subject=subject, text=text, html=page)


def _links(data: dict[str, Any], language: str) -> list[tuple[str, str]]:
    labels = _LINK_LABELS.get(language, _LINK_LABELS[DEFAULT_LANGUAGE])
    links = []
    for key in LINK_KEYS:
        url = data.get(key)
        if not url:
            continue
        url = str(url)
        if urlsplit(url).scheme not in ("https", "http") or any(c.isspace() for c in url):
            raise PermanentChannelError(
                f"{key} is not an http(s) link", code="invalid_data", details={"field": key}
            )
        links.append((labels[key], url))
    return links


# --- SMS (DLT) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DltTemplate:
    """A DLT-registered SMS template and the MSG91 flow template that sends it.

    ``template_id``: the DLT Content Template ID (19 digits). ``sender_id``: the 6-character
    header it is registered under. ``text``: exactly as registered, ``{#var#}`` per value.
    ``variables``: the data keys filling the ``{#var#}`` s in order (MSG91 ``VAR1``...).
    ``short_url``: MSG91 shortens URLs in the values (a link would not fit in 30 characters).
    """

    template_id: str
    sender_id: str
    text: str
    variables: tuple[str, ...]
    msg91_template_id: str
    short_url: bool = False

    def __post_init__(self) -> None:
        if self.text.count(DLT_PLACEHOLDER) != len(self.variables):
            raise ValueError(f"DLT template {self.template_id}: one variable per {{#var#}}")
        if not re.fullmatch(r"\d{19}", self.template_id):
            raise ValueError(f"DLT template id {self.template_id!r} is not 19 digits")
        if not re.fullmatch(r"[A-Z]{6}", self.sender_id):
            raise ValueError(f"DLT header {self.sender_id!r} is not 6 capital letters")

    def fill(self, values: list[str]) -> str:
        """The text as the handset shows it (before MSG91 shortens URLs)."""
        parts = self.text.split(DLT_PLACEHOLDER)
        out = [parts[0]]
        for value, rest in zip(values, parts[1:], strict=True):
            out.extend((value, rest))
        return "".join(out)


SENDER_ID = "SEVAHB"
_SMS_SPECS: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    # kind: {language: (text as registered, variables)}
    "booking_confirmed": {
        "en": ("Your booking {#var#} is confirmed. - Seva Hub", ("booking_ref",)),
        "hi": ("आपकी बुकिंग {#var#} की पुष्टि हो गई है। - सेवा हब", ("booking_ref",)),
    },
    "booking_cancelled": {
        "en": ("Your booking {#var#} was cancelled. - Seva Hub", ("booking_ref",)),
        "hi": ("आपकी बुकिंग {#var#} रद्द कर दी गई है। - सेवा हब", ("booking_ref",)),
    },
    "booking_rescheduled": {
        "en": ("Your booking {#var#} has been moved to a new time. - Seva Hub", ("booking_ref",)),
        "hi": ("आपकी बुकिंग {#var#} का समय बदल दिया गया है। - सेवा हब", ("booking_ref",)),
    },
    "booking_reminder": {
        "en": ("Reminder: your booking {#var#} starts soon. - Seva Hub", ("booking_ref",)),
        "hi": ("अनुस्मारक: आपकी बुकिंग {#var#} जल्द ही शुरू होगी। - सेवा हब", ("booking_ref",)),
    },
    "puja_started": {
        "en": ("Your puja for booking {#var#} has started. - Seva Hub", ("booking_ref",)),
        "hi": ("बुकिंग {#var#} की आपकी पूजा शुरू हो गई है। - सेवा हब", ("booking_ref",)),
    },
    "puja_completed": {
        "en": ("Your puja for booking {#var#} is complete. - Seva Hub", ("booking_ref",)),
        "hi": ("बुकिंग {#var#} की आपकी पूजा सम्पन्न हो गई है। - सेवा हब", ("booking_ref",)),
    },
    "puja_report_ready": {
        "en": (
            "The report of your puja for booking {#var#} is ready: {#var#} - Seva Hub",
            ("booking_ref", "report_url"),
        ),
        "hi": (
            "बुकिंग {#var#} की आपकी पूजा की रिपोर्ट तैयार है: {#var#} - सेवा हब",
            ("booking_ref", "report_url"),
        ),
    },
    "stream_started": {
        "en": (
            "Live now: watch booking {#var#} at {#var#} - Seva Hub",
            ("booking_ref", "stream_url"),
        ),
        "hi": (
            "अब लाइव: बुकिंग {#var#} का प्रसारण यहाँ देखें: {#var#} - सेवा हब",
            ("booking_ref", "stream_url"),
        ),
    },
    "payment_success": {
        "en": ("We received Rs {#var#} for booking {#var#}. - Seva Hub", ("rupees", "booking_ref")),
        "hi": (
            "बुकिंग {#var#} के लिए हमें ₹{#var#} प्राप्त हुए। - सेवा हब",
            ("booking_ref", "rupees"),
        ),
    },
    "payment_failed": {
        "en": ("Your payment for booking {#var#} did not go through. - Seva Hub", ("booking_ref",)),
        "hi": ("बुकिंग {#var#} के लिए आपका भुगतान पूरा नहीं हो सका। - सेवा हब", ("booking_ref",)),
    },
    "refund_processed": {
        "en": (
            "Rs {#var#} for booking {#var#} is on its way back to you. - Seva Hub",
            ("rupees", "booking_ref"),
        ),
        "hi": (
            "बुकिंग {#var#} के ₹{#var#} आपको वापस भेजे जा रहे हैं। - सेवा हब",
            ("booking_ref", "rupees"),
        ),
    },
    # New kinds go last: a template's id follows its kind's position here.
    "fee_due": {
        "en": ("Your fee of Rs {#var#} is due on {#var#}. - Seva Hub", ("rupees", "due_date")),
        "hi": ("आपकी ₹{#var#} की फ़ीस {#var#} तक देय है। - सेवा हब", ("rupees", "due_date")),
    },
    "plan_renewal": {
        "en": (
            "Your seat plan ends on {#var#}. Renew it to keep your seat. - Seva Hub",
            ("plan_ends_on",),
        ),
        "hi": (
            "आपकी सीट योजना {#var#} को समाप्त हो रही है। सीट बनाए रखने के लिए इसे नवीनीकृत करें। - सेवा हब",
            ("plan_ends_on",),
        ),
    },
    "waitlist_offer": {
        "en": (
            "{#var#} place(s) you waited for are held for you, ref {#var#}. "
            "Pay before the offer expires. - Seva Hub",
            ("qty", "booking_ref"),
        ),
        "hi": (
            "जिन {#var#} स्थानों की आप प्रतीक्षा कर रहे थे, वे आपके लिए रोके गए हैं, संदर्भ {#var#}। "
            "प्रस्ताव समाप्त होने से पहले भुगतान करें। - सेवा हब",
            ("qty", "booking_ref"),
        ),
    },
}


def _sms_registry() -> dict[tuple[str, str], DltTemplate]:
    registry = {}
    for number, (kind, by_language) in enumerate(_SMS_SPECS.items(), start=1):
        for language, (text, variables) in by_language.items():
            serial = number * 10 + (1 if language == "en" else 2)
            registry[(kind, language)] = DltTemplate(
                template_id=f"1107{serial:015d}",
                sender_id=SENDER_ID,
                text=text,
                variables=variables,
                msg91_template_id=f"seva_{kind}_{language}",
                short_url=any(v.endswith("_url") for v in variables),
            )
    return registry


SMS_TEMPLATES: dict[tuple[str, str], DltTemplate] = _sms_registry()


@dataclass(frozen=True)
class RenderedSms:
    language: str
    template: DltTemplate
    values: list[str]  # in ``{#var#}`` order
    text: str

    def msg91_variables(self) -> dict[str, str]:
        return {f"VAR{i}": value for i, value in enumerate(self.values, start=1)}


def render_sms(
    kind: str,
    language: str,
    data: dict[str, Any],
    registry: dict[tuple[str, str], DltTemplate] = SMS_TEMPLATES,
) -> RenderedSms:
    """The DLT template of ``kind`` in ``language`` (else English) with its values: each at
    most 30 characters (DLT's limit; longer ones are cut), except links MSG91 shortens.

    Raises :class:`PermanentChannelError` (``template_not_registered``) when there is none.
    """
    language = _language(language)
    template = registry.get((kind, language)) or registry.get((kind, DEFAULT_LANGUAGE))
    if template is None:
        raise _not_registered("sms", kind, language)
    if (kind, language) not in registry:
        language = DEFAULT_LANGUAGE
    values = _values(data)
    filled = []
    for name in template.variables:
        value = " ".join(str(values[name]).split())
        if not (template.short_url and name.endswith("_url")):
            value = value[:DLT_VAR_MAX_CHARS]
        filled.append(value)
    return RenderedSms(
        language=language, template=template, values=filled, text=template.fill(filled)
    )


# --- WhatsApp ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhatsAppTemplate:
    """A message template approved by Meta: ``name``, the language codes it is approved in,
    and the data keys of its body parameters ``{{1}}``, ``{{2}}``, ... in order."""

    name: str
    languages: frozenset[str]
    parameters: tuple[str, ...]


_WHATSAPP_PARAMETERS: dict[str, tuple[str, ...]] = {
    "booking_confirmed": ("booking_ref",),
    "booking_cancelled": ("booking_ref",),
    "booking_rescheduled": ("booking_ref",),
    "booking_reminder": ("booking_ref",),
    "puja_started": ("booking_ref",),
    "puja_completed": ("booking_ref",),
    "puja_report_ready": ("booking_ref", "report_url"),
    "stream_started": ("booking_ref", "stream_url"),
    "payment_success": ("rupees", "booking_ref"),
    "payment_failed": ("booking_ref",),
    "refund_processed": ("rupees", "booking_ref"),
    "credits_low": (),
    "system": ("title", "body"),
    "fee_due": ("rupees", "due_date"),
    "plan_renewal": ("plan_ends_on",),
    "waitlist_offer": ("qty", "booking_ref"),
}
WHATSAPP_TEMPLATES: dict[str, WhatsAppTemplate] = {
    kind: WhatsAppTemplate(f"seva_{kind}", frozenset({"en", "hi"}), parameters)
    for kind, parameters in _WHATSAPP_PARAMETERS.items()
}
# Our languages to the codes WhatsApp approves templates in ("en", "hi", "en_US", ...).
_WHATSAPP_LANGUAGE_CODES = {"en": "en", "hi": "hi"}
_WHATSAPP_PARAM_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class RenderedWhatsApp:
    language: str
    template: WhatsAppTemplate
    language_code: str
    parameters: list[str]


def render_whatsapp(kind: str, language: str, data: dict[str, Any]) -> RenderedWhatsApp:
    """The approved template of ``kind``, the language code (else English) and its body
    parameters. WhatsApp refuses a parameter with a newline, a tab or more than four spaces in
    a row, or an empty one: whitespace is collapsed and an empty value becomes ``-``."""
    template = WHATSAPP_TEMPLATES.get(kind)
    if template is None:
        raise _not_registered("whatsapp", kind, language)
    language = _language(language)
    if language not in template.languages or language not in _WHATSAPP_LANGUAGE_CODES:
        language = DEFAULT_LANGUAGE
    values = _values(data)
    parameters = [
        _WHATSAPP_PARAM_SPACES.sub(" ", str(values[name])).strip() or "-"
        for name in template.parameters
    ]
    return RenderedWhatsApp(
        language=language,
        template=template,
        language_code=_WHATSAPP_LANGUAGE_CODES[language],
        parameters=parameters,
    )


# --- shared --------------------------------------------------------------------------------


def check_registered(channel: ChannelName, kind: str, language: str) -> None:
    """Raise :class:`PermanentChannelError` (``template_not_registered``) if ``kind`` has no
    template on ``channel`` in ``language`` or in English."""
    language = _language(language)
    if channel == "email":
        registered = kind in _EMAIL
    elif channel == "sms":
        registered = (kind, language) in SMS_TEMPLATES or (kind, DEFAULT_LANGUAGE) in SMS_TEMPLATES
    else:
        registered = kind in WHATSAPP_TEMPLATES
    if not registered:
        raise _not_registered(channel, kind, language)


def _pick(
    registry: dict[str, dict[str, EmailText]], channel: ChannelName, kind: str, language: str
) -> tuple[str, EmailText]:
    by_language = registry.get(kind)
    if by_language is None:
        raise _not_registered(channel, kind, language)
    language = _language(language)
    if language in by_language:
        return language, by_language[language]
    return DEFAULT_LANGUAGE, by_language[DEFAULT_LANGUAGE]


def _language(language: str) -> str:
    """``hi-IN`` / ``HI`` / ``hi_IN`` -> ``hi``."""
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0] or DEFAULT_LANGUAGE


def _not_registered(channel: ChannelName, kind: str, language: str) -> PermanentChannelError:
    return PermanentChannelError(
        f"no {channel} template is registered for {kind!r}",
        code="template_not_registered",
        details={"channel": channel, "kind": kind, "language": language},
    )


class _Values(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def _values(data: dict[str, Any]) -> _Values:
    values = _Values(data)
    # A seat plan's one confirmation refers to the plan (``plan_id``), not to a booking.
    reference = data.get("booking_id") or data.get("plan_id")
    if "booking_ref" not in values and reference:
        values["booking_ref"] = str(reference)[:8].upper()
    if "amount_paise" in data:
        paise = int(data["amount_paise"])
        values["rupees"] = f"{paise // 100}.{paise % 100:02d}"
    for key in DATE_KEYS:
        if key in data:
            values[key] = indian_date(data[key])
    return values
