"""The panchang's pure rules: the limbs from longitudes, sunrise against published tables, and
tithi ends against the ephemeris' own full and new moons. No network: PyEphem is offline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import ephem
import pytest
from pydantic import ValidationError

from protocols.festivals import CreateFestival, FestivalRange, TithiRule
from protocols.panchang import (
    PanchangQuery,
    SubscribePanchang,
    karana_end,
    karana_names,
    karana_number,
    lahiri_ayanamsa,
    longitudes,
    nakshatra_end,
    nakshatra_number,
    next_sunrise,
    paksha_of,
    panchang_of_day,
    place_room,
    round_place,
    sunrise_on,
    tithi_end,
    tithi_names,
    tithi_number,
    yoga_end,
    yoga_number,
)

IST = ZoneInfo("Asia/Kolkata")
NEW_DELHI = (28.6139, 77.2090)


def _tithi_at(at: datetime) -> int:
    lons = longitudes(at)
    return tithi_number(lons.moon, lons.sun)


def _minutes_apart(a: datetime, b: datetime) -> float:
    return abs((a - b).total_seconds()) / 60


# -- the limbs from longitudes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("elongation", "tithi"),
    [(0.0, 1), (11.999, 1), (12.0, 2), (168.0, 15), (179.999, 15), (180.0, 16), (359.999, 30)],
)
def test_tithi_is_the_twelve_degree_part_of_the_moons_lead(elongation: float, tithi: int):
    sun = 100.0
    assert tithi_number((sun + elongation) % 360, sun) == tithi


def test_paksha_and_names_of_the_fifteenth_and_thirtieth_tithi():
    assert paksha_of(1) == paksha_of(15) == "shukla"
    assert paksha_of(16) == paksha_of(30) == "krishna"
    assert tithi_names(15) == ("Purnima", "पूर्णिमा")
    assert tithi_names(30) == ("Amavasya", "अमावस्या")
    assert tithi_names(1)[0] == tithi_names(16)[0] == "Pratipada"
    assert tithi_names(11)[0] == tithi_names(26)[0] == "Ekadashi"


def test_karanas_fixed_at_the_ends_and_seven_movable_ones_cycling_eight_times():
    assert [karana_names(k)[0] for k in (1, 58, 59, 60)] == [
        "Kimstughna",
        "Shakuni",
        "Chatushpada",
        "Naga",
    ]
    movable = [karana_names(k)[0] for k in range(2, 58)]
    assert movable[:8] == [
        "Bava",
        "Balava",
        "Kaulava",
        "Taitila",
        "Gara",
        "Vanija",
        "Vishti",
        "Bava",
    ]
    assert movable.count("Vishti") == 8 and len(movable) == 56
    assert karana_number(6.0, 0.0) == 2  # the second half of Pratipada
    assert karana_number(359.0, 0.0) == 60


def test_nakshatra_and_yoga_are_thirteen_degree_twenty_minute_parts():
    span = 360 / 27
    assert nakshatra_number(0.0) == 1
    assert nakshatra_number(span - 1e-9) == 1
    assert nakshatra_number(span) == 2
    assert nakshatra_number(359.99) == 27
    assert yoga_number(200.0, 160.0) == 1  # the sum wraps past 360
    assert yoga_number(300.0, 59.99) == 27


def test_lahiri_ayanamsa_at_j2000_and_in_2024():
    assert lahiri_ayanamsa(datetime(2000, 1, 1, 12, tzinfo=UTC)) == pytest.approx(23.857, abs=1e-3)
    # About 24 deg 11' in 2024 (precession adds ~50.3" a year).
    assert 24.18 < lahiri_ayanamsa(datetime(2024, 1, 1, tzinfo=UTC)) < 24.21


# -- sunrise against published values -------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "sunrise", "sunset"),
    [
        # New Delhi, published tables (timeanddate.com / IMD), IST.
        (date(2024, 6, 21), "05:24", "19:22"),
        (date(2024, 12, 21), "07:10", "17:29"),
        (date(2024, 3, 20), "06:25", "18:32"),
    ],
)
def test_new_delhi_sunrise_and_sunset_within_two_minutes_of_published_tables(
    day: date, sunrise: str, sunset: str
):
    lat, lon = round_place(*NEW_DELHI)
    data = panchang_of_day(day, lat, lon, IST)
    for got, published in ((data["sunrise"], sunrise), (data["sunset"], sunset)):
        at = datetime.fromisoformat(got)
        expected = datetime.combine(day, datetime.strptime(published, "%H:%M").time(), IST)
        assert _minutes_apart(at, expected) <= 2, (got, published)


def test_the_next_sunrise_after_one_is_the_next_days():
    lat, lon = NEW_DELHI
    today = sunrise_on(date(2024, 11, 1), lat, lon, IST)
    tomorrow = sunrise_on(date(2024, 11, 2), lat, lon, IST)
    assert today.astimezone(IST).date() == date(2024, 11, 1)
    # (The ephemeris iterates from the starting time: equal to well under a second.)
    assert _minutes_apart(next_sunrise(lat, lon, today + timedelta(minutes=1)), tomorrow) < 1 / 60
    assert _minutes_apart(next_sunrise(lat, lon, today - timedelta(hours=3)), today) < 1 / 60
    assert timedelta(hours=23, minutes=58) < tomorrow - today < timedelta(hours=24, minutes=2)


# -- tithi ends against the ephemeris' full and new moons -----------------------------------


def _moons(finder: object, start: datetime, count: int) -> list[datetime]:
    found, at = [], ephem.Date(start.replace(tzinfo=None))
    for _ in range(count):
        at = finder(at)  # type: ignore[operator]
        found.append(ephem.Date(at).datetime().replace(tzinfo=UTC))
        at = ephem.Date(at + 1)
    return found


@pytest.mark.parametrize("full", _moons(ephem.next_full_moon, datetime(2024, 1, 1, tzinfo=UTC), 4))
def test_purnima_runs_up_to_the_full_moon_and_ends_at_it(full: datetime):
    assert _tithi_at(full - timedelta(minutes=2)) == 15
    assert _tithi_at(full + timedelta(minutes=2)) == 16
    assert _minutes_apart(tithi_end(full - timedelta(hours=6)), full) < 1


@pytest.mark.parametrize("new", _moons(ephem.next_new_moon, datetime(2025, 1, 1, tzinfo=UTC), 4))
def test_amavasya_runs_up_to_the_new_moon_and_ends_at_it(new: datetime):
    assert _tithi_at(new - timedelta(minutes=2)) == 30
    assert _tithi_at(new + timedelta(minutes=2)) == 1
    assert _minutes_apart(tithi_end(new - timedelta(hours=6)), new) < 1


def test_diwali_2024_amavasya_at_sunrise_with_its_published_end():
    """Diwali 2024 (Lakshmi Puja, New Delhi): Amavasya from 31 Oct 15:52 to 1 Nov 18:16 IST."""
    lat, lon = round_place(*NEW_DELHI)
    eve = panchang_of_day(date(2024, 10, 31), lat, lon, IST)
    day = panchang_of_day(date(2024, 11, 1), lat, lon, IST)
    assert eve["tithi"]["number"] == 29 and eve["tithi"]["paksha"] == "krishna"
    assert day["tithi"] | {"ends_at": None} == {
        "number": 30,
        "name": "Amavasya",
        "name_hi": "अमावस्या",
        "ends_at": None,
        "paksha": "krishna",
        "paksha_name": "Krishna",
        "paksha_name_hi": "कृष्ण",
    }
    published = {
        eve["tithi"]["ends_at"]: datetime(2024, 10, 31, 15, 52, tzinfo=IST),
        day["tithi"]["ends_at"]: datetime(2024, 11, 1, 18, 16, tzinfo=IST),
    }
    for got, expected in published.items():
        assert _minutes_apart(datetime.fromisoformat(got), expected) <= 2
    assert day["vara"] == {"number": 6, "name": "Shukravara", "name_hi": "शुक्रवार"}
    assert day["karana"]["name"] == "Naga"  # the second half of Amavasya


def test_buddha_purnima_2024_is_purnima_at_sunrise():
    lat, lon = round_place(*NEW_DELHI)
    data = panchang_of_day(date(2024, 5, 23), lat, lon, IST)
    assert (data["tithi"]["number"], data["tithi"]["name"]) == (15, "Purnima")
    assert data["vara"]["name"] == "Guruvara"


@pytest.mark.parametrize("day", [date(2024, 1, 1), date(2025, 7, 10), date(2026, 11, 22)])
def test_every_limb_changes_exactly_at_its_end_time(day: date):
    lat, lon = round_place(*NEW_DELHI)
    sunrise = sunrise_on(day, lat, lon, IST)

    def limbs(at: datetime) -> dict[str, int]:
        lons = longitudes(at)
        return {
            "tithi": tithi_number(lons.moon, lons.sun),
            "karana": karana_number(lons.moon, lons.sun),
            "nakshatra": nakshatra_number(lons.moon_sidereal),
            "yoga": yoga_number(lons.sun_sidereal, lons.moon_sidereal),
        }

    at_sunrise = limbs(sunrise)
    for name, end in (
        ("tithi", tithi_end),
        ("karana", karana_end),
        ("nakshatra", nakshatra_end),
        ("yoga", yoga_end),
    ):
        ends_at = end(sunrise)
        assert sunrise < ends_at < sunrise + timedelta(days=1.5)
        assert limbs(ends_at - timedelta(seconds=5))[name] == at_sunrise[name], name
        assert limbs(ends_at + timedelta(seconds=5))[name] != at_sunrise[name], name


def test_the_answer_names_the_day_and_place_it_was_computed_for():
    lat, lon = round_place(*NEW_DELHI)
    assert (lat, lon) == (28.61, 77.21)
    data = panchang_of_day(date(2026, 11, 22), lat, lon, IST)
    assert data["date"] == "2026-11-22"
    assert data["place"] == {"lat": 28.61, "lon": 77.21, "timezone": "Asia/Kolkata"}
    assert set(data) >= {"sunrise", "sunset", "tithi", "nakshatra", "yoga", "karana", "vara"}
    assert data["sunrise"].endswith("+05:30")
    assert place_room(lat, lon, "Asia/Kolkata") == "panchang:28.61:77.21:Asia/Kolkata"


# -- wire models ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"date": "2026-11-22", "lat": "91", "lon": "77"},
        {"date": "2026-11-22", "lat": "61", "lon": "77"},  # no sunrise every day up there
        {"date": "2026-11-22", "lat": "28", "lon": "180.5"},
        {"date": "2026-11-22", "lat": "nan", "lon": "77"},
        {"date": "2026-02-30", "lat": "28", "lon": "77"},
        {"date": "1800-01-01", "lat": "28", "lon": "77"},
        {"date": "22-11-2026", "lat": "28", "lon": "77"},
        {"date": "2026-11-22", "lat": "28", "lon": "77", "timezone": "Mars/Olympus"},
        {"date": "2026-11-22", "lat": "28"},
        {"date": "2026-11-22", "lat": "28", "lon": "77", "extra": "1"},
    ],
)
def test_bad_panchang_queries_are_refused(query: dict[str, str]):
    with pytest.raises(ValidationError):
        PanchangQuery.model_validate(query)


def test_a_good_query_and_subscription_parse():
    query = PanchangQuery.model_validate({"date": "2026-11-22", "lat": "28.6", "lon": "-77"})
    assert (query.day, query.lat, query.lon, query.timezone) == (
        date(2026, 11, 22),
        28.6,
        -77,
        None,
    )
    assert SubscribePanchang(lat=28.6, lon=77.2, timezone="Asia/Kolkata").timezone == "Asia/Kolkata"


def test_festival_models():
    rule = TithiRule(paksha="krishna", tithi=15, masa="kartika")
    assert rule.tithi_of_month == 30
    with pytest.raises(ValidationError):
        TithiRule(paksha="krishna", tithi=16)
    with pytest.raises(ValidationError):
        CreateFestival.model_validate({"name": "", "date": "2026-11-08"})
    with pytest.raises(ValidationError):
        FestivalRange.model_validate({"from": "2026-12-01", "to": "2026-11-01"})
    with pytest.raises(ValidationError):
        FestivalRange.model_validate({"from": "2026-01-01", "to": "2027-06-01"})
    ok = FestivalRange.model_validate({"from": "2026-01-01", "to": "2026-12-31"})
    assert (ok.first, ok.last) == (date(2026, 1, 1), date(2026, 12, 31))
