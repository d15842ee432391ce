"""The Hindu almanac of one day at one place, computed offline with PyEphem (``ephem``).

Pure rules: no I/O, no clock (every function takes the instant or the day it works on). The
five limbs are read at the place's **local sunrise** (the upper limb on a -34' horizon without
the ephemeris' own refraction, the convention of published sunrise tables):

- **tithi** = ⌊((λ☾ - λ☉) mod 360) / 12⌋ + 1, 1..30; Shukla paksha 1-15 (15 Purnima), Krishna
  16-30 (30 Amavasya). λ are apparent geocentric ecliptic longitudes of date.
- **nakshatra** = ⌊λ☾ sidereal / (360/27)⌋ + 1, sidereal = tropical - Lahiri ayanamsa.
- **yoga** = ⌊((λ☉ sidereal + λ☾ sidereal) mod 360) / (360/27)⌋ + 1.
- **karana** = the half-tithi, 60 per lunar month: the 1st is Kimstughna, the 2nd-57th cycle
  through the seven movable karanas (Bava … Vishti), the last three are Shakuni, Chatushpada,
  Naga.
- **vara** = the weekday of the local date of sunrise (a Hindu day runs sunrise to sunrise).

Each limb's ``ends_at`` is the instant its angle next crosses its boundary, found by bisection
(to about a second) within the 1.5 days after sunrise that bound the longest limb.

Ayanamsa: Lahiri (Chitrapaksha), 23.857092° at J2000.0 advancing with the IAU 2006 general
precession in longitude (5028.796195" T + 1.1054348" T², T in Julian centuries); it agrees
with the Indian Astronomical Ephemeris to a few arc-seconds over 1900-2100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import ephem
from pydantic import Field, field_validator

from protocols.wire import IsoDate, WireModel, parse_iso_date

ALGORITHM_VERSION = 1
"""Bumped whenever a computed answer would change; cached rows of older versions are unused."""

MAX_ABS_LATITUDE = 60.0
"""The sun rises and sets every day of the year between these latitudes."""

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2099, 12, 31)
DEFAULT_TIMEZONE = "Asia/Kolkata"
COORDINATE_DECIMALS = 2
"""Places are rounded to 0.01° (about 1.1 km): sunrise moves by at most ~3 s within one."""

NAKSHATRA_SPAN = 360.0 / 27
_SEARCH_WINDOW = timedelta(days=1.5)
_J2000 = datetime(2000, 1, 1, 12, tzinfo=UTC)

Paksha = Literal["shukla", "krishna"]
Day = date  # (a name models with a ``date`` field can use)

TITHI_NAMES = (
    ("Pratipada", "प्रतिपदा"),
    ("Dwitiya", "द्वितीया"),
    ("Tritiya", "तृतीया"),
    ("Chaturthi", "चतुर्थी"),
    ("Panchami", "पंचमी"),
    ("Shashthi", "षष्ठी"),
    ("Saptami", "सप्तमी"),
    ("Ashtami", "अष्टमी"),
    ("Navami", "नवमी"),
    ("Dashami", "दशमी"),
    ("Ekadashi", "एकादशी"),
    ("Dwadashi", "द्वादशी"),
    ("Trayodashi", "त्रयोदशी"),
    ("Chaturdashi", "चतुर्दशी"),
)
PURNIMA = ("Purnima", "पूर्णिमा")
AMAVASYA = ("Amavasya", "अमावस्या")
PAKSHA_NAMES: dict[str, tuple[str, str]] = {
    "shukla": ("Shukla", "शुक्ल"),
    "krishna": ("Krishna", "कृष्ण"),
}
NAKSHATRA_NAMES = (
    ("Ashwini", "अश्विनी"),
    ("Bharani", "भरणी"),
    ("Krittika", "कृत्तिका"),
    ("Rohini", "रोहिणी"),
    ("Mrigashira", "मृगशिरा"),
    ("Ardra", "आर्द्रा"),
    ("Punarvasu", "पुनर्वसु"),
    ("Pushya", "पुष्य"),
    ("Ashlesha", "आश्लेषा"),
    ("Magha", "मघा"),
    ("Purva Phalguni", "पूर्वाफाल्गुनी"),
    ("Uttara Phalguni", "उत्तराफाल्गुनी"),
    ("Hasta", "हस्त"),
    ("Chitra", "चित्रा"),
    ("Swati", "स्वाती"),
    ("Vishakha", "विशाखा"),
    ("Anuradha", "अनुराधा"),
    ("Jyeshtha", "ज्येष्ठा"),
    ("Mula", "मूल"),
    ("Purva Ashadha", "पूर्वाषाढ़ा"),
    ("Uttara Ashadha", "उत्तराषाढ़ा"),
    ("Shravana", "श्रवण"),
    ("Dhanishta", "धनिष्ठा"),
    ("Shatabhisha", "शतभिषा"),
    ("Purva Bhadrapada", "पूर्वाभाद्रपद"),
    ("Uttara Bhadrapada", "उत्तराभाद्रपद"),
    ("Revati", "रेवती"),
)
YOGA_NAMES = (
    ("Vishkambha", "विष्कम्भ"),
    ("Priti", "प्रीति"),
    ("Ayushman", "आयुष्मान"),
    ("Saubhagya", "सौभाग्य"),
    ("Shobhana", "शोभन"),
    ("Atiganda", "अतिगण्ड"),
    ("Sukarma", "सुकर्मा"),
    ("Dhriti", "धृति"),
    ("Shula", "शूल"),
    ("Ganda", "गण्ड"),
    ("Vriddhi", "वृद्धि"),
    ("Dhruva", "ध्रुव"),
    ("Vyaghata", "व्याघात"),
    ("Harshana", "हर्षण"),
    ("Vajra", "वज्र"),
    ("Siddhi", "सिद्धि"),
    ("Vyatipata", "व्यतीपात"),
    ("Variyana", "वरीयान"),
    ("Parigha", "परिघ"),
    ("Shiva", "शिव"),
    ("Siddha", "सिद्ध"),
    ("Sadhya", "साध्य"),
    ("Shubha", "शुभ"),
    ("Shukla", "शुक्ल"),
    ("Brahma", "ब्रह्म"),
    ("Indra", "इन्द्र"),
    ("Vaidhriti", "वैधृति"),
)
MOVABLE_KARANAS = (
    ("Bava", "बव"),
    ("Balava", "बालव"),
    ("Kaulava", "कौलव"),
    ("Taitila", "तैतिल"),
    ("Gara", "गर"),
    ("Vanija", "वणिज"),
    ("Vishti", "विष्टि"),
)
KIMSTUGHNA = ("Kimstughna", "किंस्तुघ्न")
LAST_KARANAS = (("Shakuni", "शकुनि"), ("Chatushpada", "चतुष्पद"), ("Naga", "नाग"))
VARA_NAMES = (  # Monday first, as date.weekday() counts
    ("Somavara", "सोमवार"),
    ("Mangalavara", "मंगलवार"),
    ("Budhavara", "बुधवार"),
    ("Guruvara", "गुरुवार"),
    ("Shukravara", "शुक्रवार"),
    ("Shanivara", "शनिवार"),
    ("Ravivara", "रविवार"),
)


# -- the limbs from longitudes (degrees) -----------------------------------------------------


def elongation(moon_lon: float, sun_lon: float) -> float:
    """(moon - sun) mod 360, in [0, 360)."""
    return (moon_lon - sun_lon) % 360.0


def tithi_number(moon_lon: float, sun_lon: float) -> int:
    """1..30 (15 Purnima, 30 Amavasya)."""
    return min(int(elongation(moon_lon, sun_lon) // 12.0), 29) + 1


def paksha_of(tithi: int) -> Paksha:
    return "shukla" if tithi <= 15 else "krishna"


def tithi_names(tithi: int) -> tuple[str, str]:
    """(English transliteration, Hindi) of tithi 1..30."""
    if tithi == 15:
        return PURNIMA
    if tithi == 30:
        return AMAVASYA
    return TITHI_NAMES[(tithi - 1) % 15]


def nakshatra_number(moon_sidereal_lon: float) -> int:
    """1..27 (1 Ashwini)."""
    return min(int((moon_sidereal_lon % 360.0) // NAKSHATRA_SPAN), 26) + 1


def yoga_number(sun_sidereal_lon: float, moon_sidereal_lon: float) -> int:
    """1..27 (1 Vishkambha)."""
    return min(int(((sun_sidereal_lon + moon_sidereal_lon) % 360.0) // NAKSHATRA_SPAN), 26) + 1


def karana_number(moon_lon: float, sun_lon: float) -> int:
    """1..60, the half-tithi of the lunar month."""
    return min(int(elongation(moon_lon, sun_lon) // 6.0), 59) + 1


def karana_names(karana: int) -> tuple[str, str]:
    if karana == 1:
        return KIMSTUGHNA
    if karana >= 58:
        return LAST_KARANAS[karana - 58]
    return MOVABLE_KARANAS[(karana - 2) % 7]


def vara_names(day: date) -> tuple[str, str]:
    return VARA_NAMES[day.weekday()]


def lahiri_ayanamsa(at: datetime) -> float:
    """Degrees between the tropical and the sidereal (Chitrapaksha) zodiac at ``at``."""
    centuries = (at - _J2000).total_seconds() / (36525 * 86400)
    return 23.857092 + (5028.796195 * centuries + 1.1054348 * centuries**2) / 3600.0


# -- the ephemeris ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Longitudes:
    """Apparent geocentric ecliptic longitudes of date, tropical and sidereal, in degrees."""

    sun: float
    moon: float
    ayanamsa: float

    @property
    def sun_sidereal(self) -> float:
        return (self.sun - self.ayanamsa) % 360.0

    @property
    def moon_sidereal(self) -> float:
        return (self.moon - self.ayanamsa) % 360.0


def _ephem_date(at: datetime) -> ephem.Date:
    return ephem.Date(at.astimezone(UTC).replace(tzinfo=None))


def _from_ephem(value: Any) -> datetime:
    return ephem.Date(value).datetime().replace(tzinfo=UTC)


def _ecliptic_lon(body: Any, when: ephem.Date) -> float:
    body.compute(when)
    equatorial = ephem.Equatorial(body.g_ra, body.g_dec, epoch=when)
    return math.degrees(float(ephem.Ecliptic(equatorial).lon)) % 360.0


def longitudes(at: datetime) -> Longitudes:
    when = _ephem_date(at)
    return Longitudes(
        sun=_ecliptic_lon(ephem.Sun(), when),
        moon=_ecliptic_lon(ephem.Moon(), when),
        ayanamsa=lahiri_ayanamsa(at),
    )


def _observer(lat: float, lon: float) -> ephem.Observer:
    observer = ephem.Observer()
    observer.lat = str(lat)
    observer.lon = str(lon)
    observer.elevation = 0
    # USNO's convention: no ephemeris refraction, a horizon 34' down, the upper limb.
    observer.pressure = 0
    observer.horizon = "-0:34"
    return observer


def next_sunrise(lat: float, lon: float, after: datetime) -> datetime:
    """The first sunrise at the place strictly after ``after`` (UTC-aware)."""
    observer = _observer(lat, lon)
    observer.date = _ephem_date(after)
    return _from_ephem(observer.next_rising(ephem.Sun()))


def next_sunset(lat: float, lon: float, after: datetime) -> datetime:
    observer = _observer(lat, lon)
    observer.date = _ephem_date(after)
    return _from_ephem(observer.next_setting(ephem.Sun()))


def next_moonrise(lat: float, lon: float, after: datetime, before: datetime) -> datetime | None:
    """The moonrise in [after, before), or None (some days have none)."""
    observer = _observer(lat, lon)
    observer.date = _ephem_date(after)
    try:
        rise = _from_ephem(observer.next_rising(ephem.Moon()))
    except (ephem.AlwaysUpError, ephem.NeverUpError):
        return None
    return rise if rise < before else None


def sunrise_on(day: date, lat: float, lon: float, zone: ZoneInfo) -> datetime:
    """The place's sunrise on the local civil date ``day`` of ``zone``."""
    midnight = datetime.combine(day, time(0), zone)
    return next_sunrise(lat, lon, midnight)


def _crossing(progress: Any, start: datetime, target: float) -> datetime:
    """The instant in [start, start + window] where ``progress(t)`` (degrees advanced since
    ``start``, increasing) reaches ``target``, by bisection to about a second."""
    low, high = start, start + _SEARCH_WINDOW
    while (high - low).total_seconds() > 0.5:
        middle = low + (high - low) / 2
        if progress(middle) < target:
            low = middle
        else:
            high = middle
    return high


def _end_of(angle: Any, start: datetime, span: float) -> datetime:
    """When ``angle(t)`` (degrees, increasing mod 360) leaves the ``span``-wide part it is in at
    ``start``."""
    at_start = angle(start) % 360.0
    target = (math.floor(at_start / span) + 1) * span - at_start
    return _crossing(lambda t: (angle(t) - at_start) % 360.0, start, target)


def _elongation_at(at: datetime) -> float:
    lons = longitudes(at)
    return elongation(lons.moon, lons.sun)


def tithi_end(start: datetime) -> datetime:
    return _end_of(_elongation_at, start, 12.0)


def karana_end(start: datetime) -> datetime:
    return _end_of(_elongation_at, start, 6.0)


def nakshatra_end(start: datetime) -> datetime:
    return _end_of(lambda t: longitudes(t).moon_sidereal, start, NAKSHATRA_SPAN)


def yoga_end(start: datetime) -> datetime:
    def angle(t: datetime) -> float:
        lons = longitudes(t)
        return lons.sun_sidereal + lons.moon_sidereal

    return _end_of(angle, start, NAKSHATRA_SPAN)


# -- the day ---------------------------------------------------------------------------------


def round_place(lat: float, lon: float) -> tuple[float, float]:
    """The place a computation and its cache are keyed by."""
    return round(lat, COORDINATE_DECIMALS) + 0.0, round(lon, COORDINATE_DECIMALS) + 0.0


def zone_of(name: str) -> ZoneInfo:
    """Raises ValueError for a name that is not an IANA timezone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).replace(microsecond=0).isoformat()


def _limb(number: int, names: tuple[str, str], ends_at: datetime, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "number": number,
        "name": names[0],
        "name_hi": names[1],
        "ends_at": _local(ends_at, zone),
    }


def panchang_at_sunrise(
    sunrise: datetime, lat: float, lon: float, zone: ZoneInfo
) -> dict[str, Any]:
    """The panchang of the Hindu day that starts at ``sunrise`` (a sunrise of the place), as
    the wire answer of ``GET /api/v1/panchang``. Times are ISO 8601 in ``zone``."""
    day = sunrise.astimezone(zone).date()
    lons = longitudes(sunrise)
    tithi = tithi_number(lons.moon, lons.sun)
    paksha = paksha_of(tithi)
    karana = karana_number(lons.moon, lons.sun)
    nakshatra = nakshatra_number(lons.moon_sidereal)
    yoga = yoga_number(lons.sun_sidereal, lons.moon_sidereal)
    next_rise = next_sunrise(lat, lon, sunrise + timedelta(minutes=1))
    moonrise = next_moonrise(lat, lon, sunrise, next_rise)
    vara = vara_names(day)
    return {
        "date": day.isoformat(),
        "place": {"lat": lat, "lon": lon, "timezone": zone.key},
        "sunrise": _local(sunrise, zone),
        "sunset": _local(next_sunset(lat, lon, sunrise), zone),
        "next_sunrise": _local(next_rise, zone),
        "moonrise": _local(moonrise, zone) if moonrise is not None else None,
        "tithi": {
            **_limb(tithi, tithi_names(tithi), tithi_end(sunrise), zone),
            "paksha": paksha,
            "paksha_name": PAKSHA_NAMES[paksha][0],
            "paksha_name_hi": PAKSHA_NAMES[paksha][1],
        },
        "nakshatra": _limb(nakshatra, NAKSHATRA_NAMES[nakshatra - 1], nakshatra_end(sunrise), zone),
        "yoga": _limb(yoga, YOGA_NAMES[yoga - 1], yoga_end(sunrise), zone),
        "karana": _limb(karana, karana_names(karana), karana_end(sunrise), zone),
        "vara": {"number": (day.isoweekday() % 7) + 1, "name": vara[0], "name_hi": vara[1]},
        "ayanamsa": {"name": "lahiri", "degrees": round(lons.ayanamsa, 6)},
        "algorithm": ALGORITHM_VERSION,
    }


def panchang_of_day(day: date, lat: float, lon: float, zone: ZoneInfo) -> dict[str, Any]:
    """The panchang of the local date ``day`` (read at that date's sunrise)."""
    return panchang_at_sunrise(sunrise_on(day, lat, lon, zone), lat, lon, zone)


# -- wire models -----------------------------------------------------------------------------


class _Place(WireModel):
    lat: float = Field(ge=-MAX_ABS_LATITUDE, le=MAX_ABS_LATITUDE, allow_inf_nan=False)
    lon: float = Field(ge=-180.0, le=180.0, allow_inf_nan=False)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone_of(value)
        return value


class PanchangQuery(_Place):
    """``GET /api/v1/panchang?date=&lat=&lon=&timezone=``."""

    date: IsoDate

    @field_validator("date")
    @classmethod
    def _in_range(cls, value: str) -> str:
        day = parse_iso_date(value)
        if not FIRST_DAY <= day <= LAST_DAY:
            raise ValueError(f"date must be between {FIRST_DAY} and {LAST_DAY}")
        return value

    @property
    def day(self) -> Day:
        return parse_iso_date(self.date)


class SubscribePanchang(_Place):
    """``panchang:subscribe {lat, lon, timezone?}``."""


class UnsubscribePanchang(WireModel):
    """``panchang:unsubscribe {room}``."""

    room: str = Field(min_length=1, max_length=200)


def place_room(lat: float, lon: float, timezone: str) -> str:
    """The Socket.IO room of a rounded place's subscribers, e.g.
    ``panchang:28.61:77.21:Asia/Kolkata`` (the day and its times depend on the timezone)."""
    return f"panchang:{lat:.2f}:{lon:.2f}:{timezone}"


# -- answers (GET /api/v1/panchang) ----------------------------------------------------------


class PanchangPlace(WireModel):
    lat: float = Field(description="rounded to two decimals")
    lon: float = Field(description="rounded to two decimals")
    timezone: str = Field(description="IANA name the times are given in")


class PanchangLimb(WireModel):
    number: int = Field(ge=1)
    name: str
    name_hi: str = Field(description="the name in Devanagari")
    ends_at: datetime = Field(description="when this limb ends, local time of the place")


class TithiLimb(PanchangLimb):
    number: int = Field(ge=1, le=30, description="1..30 across the lunar month")
    paksha: Paksha
    paksha_name: str
    paksha_name_hi: str


class VaraLimb(WireModel):
    number: int = Field(ge=1, le=7, description="1 = Sunday")
    name: str
    name_hi: str


class Ayanamsa(WireModel):
    name: Literal["lahiri"]
    degrees: float


class PanchangDay(WireModel):
    """``GET /api/v1/panchang``: the panchang of the Hindu day that starts at the place's sunrise
    on ``date``; every time is ISO 8601 with the place's offset."""

    date: date
    place: PanchangPlace
    sunrise: datetime
    sunset: datetime
    next_sunrise: datetime
    moonrise: datetime | None = Field(description="null when the moon does not rise that day")
    tithi: TithiLimb
    nakshatra: PanchangLimb
    yoga: PanchangLimb
    karana: PanchangLimb
    vara: VaraLimb
    ayanamsa: Ayanamsa
    algorithm: int = Field(description="version of the computation (cache key)")
