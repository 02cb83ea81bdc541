"""CF time decoding cases computed by cftime, the library xarray and netCDF4 decode times with.

    calendars.py cases      prints a JSON list of cases for tests/api/ocean.rs

Each case is {units, calendar, value} and either {iso, doy} (cftime's date, rounded to the
second, and its day of year) or {error: true} where cftime refuses the units or the value. The
grid covers every CF calendar name, every time unit and its abbreviations, reference dates
around the 1582 Julian/Gregorian switch, leap days, time zones, fractional seconds and year
zero, and offsets that are negative, cross the switch, or land on leap days.
"""
import datetime
import json
import math
import sys
import warnings

import cftime

warnings.simplefilter("ignore")  # CFWarning on year zero: these cases are meant to probe it

CALENDARS = ["standard", "gregorian", "proleptic_gregorian", "julian", "noleap", "365_day",
             "all_leap", "366_day", "360_day", "tai", "Standard", "none", "lunar"]
# (unit, microseconds per unit): every unit cftime knows, and two it refuses.
UNITS = [("days", 86400e6), ("hours", 3600e6), ("minutes", 60e6), ("seconds", 1e6),
         ("milliseconds", 1e3), ("microseconds", 1.0), ("months", 30 * 86400e6),
         ("common_years", 365 * 86400e6), ("weeks", 7 * 86400e6), ("fortnights", 14 * 86400e6)]
# Spellings, each tried with one reference date.
SPELLINGS = [("day", 86400e6), ("d", 86400e6), ("DAYS", 86400e6), ("hour", 3600e6), ("hrs", 3600e6),
             ("hr", 3600e6), ("h", 3600e6), ("minute", 60e6), ("min", 60e6), ("mins", 60e6),
             ("second", 1e6), ("sec", 1e6), ("secs", 1e6), ("s", 1e6), ("millisecond", 1e3),
             ("msec", 1e3), ("msecs", 1e3), ("ms", 1e3), ("millisecs", 1e3), ("microsecond", 1.0),
             ("microsec", 1.0), ("us", 1.0), ("common_year", 365 * 86400e6), ("month", 30 * 86400e6)]
REFERENCES = ["1500-01-01", "1500-2-29", "1582-10-04", "1582-10-10", "1582-10-15 12:00:00", "1600-02-29",
              "1899-12-31T23:00:00Z", "1970-01-01", "2000-02-29 06:30", "2000-02-30", "2000-01-31",
              "2024-01-15T09:00:00Z", "0001-01-01", "0000-01-01", "-0001-03-01",
              "1981-01-01 00:00:00 UTC", "2000-01-01T00:00:00+02:00", "2000-01-01 12:00:00-0930",
              "2000-01-01 00:00:00.5", "1958-01-01", "2000-01-01 12"]
# Offsets in days: the switch from 1500 (~30,300 days), leap days, negative and large values.
DAYS = [0.0, 1.0, -1.0, 0.375, 59.0, 60.0, 366.0, -365.25, 30_355.0, -152_384.25, 100_000.5,
        191_000.0, -700_000.0, 1e-7, 1e300]


def rounded(date):
    """The date rounded to the nearest second, or None on an exact half second."""
    micro = date.microsecond
    if micro == 500_000:
        return None
    step = datetime.timedelta(microseconds=micro)
    return date - step if micro < 500_000 else date + (datetime.timedelta(seconds=1) - step)


def case(units, calendar, value):
    """One case: cftime's date rounded to the second and its day of year, or its refusal."""
    out = {"units": units, "calendar": calendar, "value": value}
    try:
        date = rounded(cftime.num2date(value, units, calendar=calendar))
    except Exception:  # ValueError, OverflowError, and numpy's errors on overflowing values
        return dict(out, error=True)
    return None if date is None else dict(out, iso=date.isoformat(), doy=int(date.dayofyr))


def cases():
    grid = [(unit, micros, ref) for unit, micros in UNITS for ref in REFERENCES]
    grid += [(unit, micros, "1582-10-04") for unit, micros in SPELLINGS]
    out = [case(f"{unit} since {ref}", calendar, days * 86400e6 / micros)
           for calendar in CALENDARS for unit, micros, ref in grid for days in DAYS]
    return [c for c in out if c is not None and math.isfinite(c["value"])]


if __name__ == "__main__":
    if sys.argv[1:] == ["cases"]:
        json.dump(cases(), sys.stdout)
    else:
        sys.exit(__doc__)
