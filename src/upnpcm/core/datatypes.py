"""UPnP state-variable data types, converted both ways (UDA 1.1 §2.5 table 2-4).

:func:`from_wire` turns the text of an argument or event into a Python value;
:func:`to_wire` turns a Python value (or text, which is parsed first) into the
canonical text. A value that does not fit its type raises :class:`UPnPError`
402 "Invalid Args" (wrong data type); callers on the control-point side turn
that into their own error.

=============================  ======================  =====================
UPnP type                      Python type             wire form written
=============================  ======================  =====================
ui1 ui2 ui4 ui8 i1 i2 i4 i8    int (range-checked)     decimal
int                            int                     decimal
r4 r8 number float fixed.14.4  float                   repr (fixed: 4 dp max)
char                           str (one character)     as is
string uri uuid                str                     as is
boolean                        bool                    ``1`` / ``0``
date                           datetime.date           YYYY-MM-DD
dateTime dateTime.tz           datetime.datetime       ISO 8601
time time.tz                   datetime.time           hh:mm:ss[.f][tz]
bin.base64 bin.hex             bytes                   base64 / hex
=============================  ======================  =====================

Unknown (vendor) types are treated as ``string``.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Final, TypeAlias

from upnpcm.core.http import decimal
from upnpcm.errors import UPnPError

__all__ = [
    "DATA_TYPES",
    "INTEGER_RANGES",
    "UPnPValue",
    "as_int",
    "from_wire",
    "python_type_name",
    "to_wire",
]

if TYPE_CHECKING:
    import datetime as dt

# datetime and base64 are imported by the few conversions that need them: not at
# start-up (`upnpcm call`, bench/RESULTS.md). The alias is for annotations.
UPnPValue: TypeAlias = "int | float | str | bool | bytes | dt.date | dt.datetime | dt.time"

#: Inclusive bounds of the sized integer types.
INTEGER_RANGES: Final[dict[str, tuple[int, int]]] = {
    "ui1": (0, 2**8 - 1),
    "ui2": (0, 2**16 - 1),
    "ui4": (0, 2**32 - 1),
    "ui8": (0, 2**64 - 1),
    "i1": (-(2**7), 2**7 - 1),
    "i2": (-(2**15), 2**15 - 1),
    "i4": (-(2**31), 2**31 - 1),
    "i8": (-(2**63), 2**63 - 1),
}
_FLOATS: Final = frozenset({"r4", "r8", "number", "float", "fixed.14.4"})
_STRINGS: Final = frozenset({"string", "uri", "uuid"})
#: Every data type UDA defines (plus UDA 2.0's ui8/i8).
DATA_TYPES: Final = frozenset(
    {
        *INTEGER_RANGES,
        "int",
        *_FLOATS,
        "char",
        *_STRINGS,
        "boolean",
        "date",
        "dateTime",
        "dateTime.tz",
        "time",
        "time.tz",
        "bin.base64",
        "bin.hex",
    }
)
_R4_MAX: Final = 3.40282347e38
_FLOAT_RE: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_FIXED_RE: Final = re.compile(r"[+-]?[0-9]{1,14}(?:\.[0-9]{0,4})?\Z")
_TRUE: Final = frozenset({"1", "true", "yes"})
_FALSE: Final = frozenset({"0", "false", "no"})
_UUID_RE: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")
_MAX_NUMBER_TEXT: Final = 400


def _bad(data_type: str, text: str, why: str = "") -> UPnPError:
    shown = text if len(text) <= 40 else text[:37] + "..."
    return UPnPError(402, f"{shown!r} is not a valid {data_type}{': ' + why if why else ''}")


def as_int(value: object, *, default: int) -> int:
    """An out-argument as an integer: already one (the SCPD typed it), else its text, else ``default``.

    For answers read whatever their SCPD says (a ConnectionID, a TotalMatches):
    the text goes through :func:`~upnpcm.core.http.decimal` (signed, at most
    20 digits, rule B8); nothing raises.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return decimal(str(value).strip(), default=default, signed=True)


def python_type_name(data_type: str) -> str:
    """Name of the Python type :func:`from_wire` returns for ``data_type``."""
    if data_type in INTEGER_RANGES or data_type == "int":
        return "int"
    if data_type in _FLOATS:
        return "float"
    return {
        "boolean": "bool",
        "date": "date",
        "dateTime": "datetime",
        "dateTime.tz": "datetime",
        "time": "time",
        "time.tz": "time",
        "bin.base64": "bytes",
        "bin.hex": "bytes",
    }.get(data_type, "str")


def from_wire(data_type: str, text: str) -> UPnPValue:
    """Convert wire text to the Python value of ``data_type``.

    Raises:
        UPnPError: 402 when ``text`` is not a valid value of the type.
    """
    if data_type == "string":
        return text
    if data_type in _STRINGS:
        if data_type == "uuid" and text and not _UUID_RE.match(text.strip()):
            raise _bad(data_type, text)
        return text
    value = text.strip()
    if data_type in INTEGER_RANGES or data_type == "int":
        number = decimal(value, signed=True, max_digits=_MAX_NUMBER_TEXT)
        if number is None:
            raise _bad(data_type, text)
        bounds = INTEGER_RANGES.get(data_type)
        if bounds and not bounds[0] <= number <= bounds[1]:
            raise _bad(data_type, text, f"outside {bounds[0]}..{bounds[1]}")
        return number
    if data_type in _FLOATS:
        pattern = _FIXED_RE if data_type == "fixed.14.4" else _FLOAT_RE
        if len(value) > _MAX_NUMBER_TEXT or not pattern.match(value):
            raise _bad(data_type, text)
        real = float(value)
        if not math.isfinite(real) or (data_type == "r4" and abs(real) > _R4_MAX):
            raise _bad(data_type, text, "out of range")
        return real
    if data_type == "boolean":
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise _bad(data_type, text)
    if data_type == "char":
        if len(text) != 1:
            raise _bad(data_type, text, "needs exactly one character")
        return text
    try:
        return _from_wire_other(data_type, value)
    except ValueError as exc:  # binascii.Error (base64) is a ValueError
        raise _bad(data_type, text) from exc


def _from_wire_other(data_type: str, value: str) -> UPnPValue:
    import base64
    import datetime as dt

    if data_type == "date":
        return dt.date.fromisoformat(value)
    if data_type in ("dateTime", "dateTime.tz"):
        parsed = dt.datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        if data_type == "dateTime" and parsed.tzinfo is not None:
            raise ValueError("dateTime has no time zone")
        return parsed
    if data_type in ("time", "time.tz"):
        parsed_time = dt.time.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        if data_type == "time" and parsed_time.tzinfo is not None:
            raise ValueError("time has no time zone")
        return parsed_time
    if data_type == "bin.base64":
        return base64.b64decode("".join(value.split()), validate=True)
    if data_type == "bin.hex":
        return bytes.fromhex(value)
    return value  # unknown vendor type: a string, kept as sent


def to_wire(data_type: str, value: object) -> str:
    """Convert a Python value (or text in wire form) to canonical wire text.

    Raises:
        UPnPError: 402 when ``value`` does not fit ``data_type``.
    """
    # Fast paths for the common cases (plain strings, in-range integers).
    if data_type == "string" and type(value) is str:
        return value
    bounds = INTEGER_RANGES.get(data_type)
    if bounds is not None and type(value) is int and bounds[0] <= value <= bounds[1]:
        return str(value)
    if isinstance(value, str) and data_type not in _STRINGS and data_type != "char":
        value = from_wire(data_type, value)
    if data_type in _STRINGS or data_type not in DATA_TYPES:
        if (
            data_type == "uuid" and type(value).__name__ == "UUID"
        ):  # uuid.UUID, not imported: startup
            return str(value)
        if not isinstance(value, str):
            raise _bad(data_type, repr(value), "expected a string")
        return str(from_wire(data_type, value))
    if data_type == "char":
        return str(from_wire(data_type, str(value)))
    if data_type in INTEGER_RANGES or data_type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(data_type, repr(value), "expected an integer")
        return str(from_wire(data_type, str(value)))
    if data_type in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(data_type, repr(value), "expected a number")
        real = float(value)
        if not math.isfinite(real) or (data_type == "r4" and abs(real) > _R4_MAX):
            raise _bad(data_type, repr(value), "out of range")
        if data_type == "fixed.14.4":
            text = f"{real:.4f}".rstrip("0").rstrip(".")
            from_wire(data_type, text)  # more than 14 integer digits raises 402
            return text
        return repr(real)
    if data_type == "boolean":
        if not isinstance(value, bool | int) or value not in (0, 1):
            raise _bad(data_type, repr(value), "expected a boolean")
        return "1" if value else "0"
    return _to_wire_other(data_type, value)


def _to_wire_other(data_type: str, value: object) -> str:
    import base64
    import datetime as dt

    if data_type == "date":
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise _bad(data_type, repr(value), "expected a date")
        return value.isoformat()
    if data_type in ("dateTime", "dateTime.tz"):
        if not isinstance(value, dt.datetime):
            raise _bad(data_type, repr(value), "expected a datetime")
        if data_type == "dateTime" and value.tzinfo is not None:
            raise _bad(data_type, repr(value), "dateTime has no time zone")
        return value.isoformat()
    if data_type in ("time", "time.tz"):
        if not isinstance(value, dt.time):
            raise _bad(data_type, repr(value), "expected a time")
        if data_type == "time" and value.tzinfo is not None:
            raise _bad(data_type, repr(value), "time has no time zone")
        return value.isoformat()
    if not isinstance(value, bytes | bytearray):
        raise _bad(data_type, repr(value), "expected bytes")
    if data_type == "bin.base64":
        return base64.b64encode(bytes(value)).decode("ascii")
    return bytes(value).hex()
