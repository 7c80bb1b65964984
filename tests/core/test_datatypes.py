import datetime as dt

import pytest

from upnpcm.core.datatypes import INTEGER_RANGES, from_wire, python_type_name, to_wire
from upnpcm.errors import UPnPError


@pytest.mark.parametrize(
    ("data_type", "text", "value"),
    [
        ("ui1", "255", 255),
        ("ui2", "0", 0),
        ("ui4", "4294967295", 4294967295),
        ("ui8", "18446744073709551615", 2**64 - 1),
        ("i1", "-128", -128),
        ("i2", "+42", 42),
        ("i4", " -7 ", -7),
        ("i8", "-9223372036854775808", -(2**63)),
        ("int", "123456789012345678901", 123456789012345678901),
        ("r4", "1.5", 1.5),
        ("r8", "-2.5e3", -2500.0),
        ("number", ".5", 0.5),
        ("float", "3", 3.0),
        ("fixed.14.4", "12345678901234.1234", 12345678901234.1234),
        ("char", "x", "x"),
        ("string", "  kept as is ", "  kept as is "),
        ("uri", "http://a/b", "http://a/b"),
        ("uuid", "6701f9fb-9973-4b1d-9eee-ffca581d2085", "6701f9fb-9973-4b1d-9eee-ffca581d2085"),
        ("boolean", "1", True),
        ("boolean", "yes", True),
        ("boolean", "False", False),
        ("date", "2024-02-29", dt.date(2024, 2, 29)),
        ("dateTime", "2024-02-29T10:11:12", dt.datetime(2024, 2, 29, 10, 11, 12)),
        (
            "dateTime.tz",
            "2024-02-29T10:11:12Z",
            dt.datetime(2024, 2, 29, 10, 11, 12, tzinfo=dt.UTC),
        ),
        ("time", "10:11:12", dt.time(10, 11, 12)),
        (
            "time.tz",
            "10:11:12+01:00",
            dt.time(10, 11, 12, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        ),
        ("bin.base64", "aGk=", b"hi"),
        ("bin.hex", "6869", b"hi"),
        ("x-vendor-type", "anything", "anything"),
    ],
)
def test_from_wire(data_type, text, value):
    assert from_wire(data_type, text) == value


@pytest.mark.parametrize(
    ("data_type", "text"),
    [
        ("ui1", "256"),
        ("ui1", "-1"),
        ("ui4", "4294967296"),
        ("i1", "128"),
        ("i4", "2147483648"),
        ("i4", "abc"),
        ("i4", ""),
        ("i4", "1.0"),
        ("int", "1e3"),
        ("r4", "1e39"),
        ("r8", "nan"),
        ("r8", "inf"),
        ("fixed.14.4", "1.12345"),
        ("fixed.14.4", "123456789012345"),
        ("char", "ab"),
        ("char", ""),
        ("boolean", "maybe"),
        ("date", "2024-13-01"),
        ("dateTime", "2024-01-01T00:00:00+01:00"),
        ("time", "25:00:00"),
        ("bin.base64", "!!!"),
        ("bin.hex", "xyz"),
        ("uuid", "not-a-uuid"),
    ],
)
def test_from_wire_rejects_with_402(data_type, text):
    with pytest.raises(UPnPError) as info:
        from_wire(data_type, text)
    assert info.value.code == 402


@pytest.mark.parametrize(
    ("data_type", "value", "text"),
    [
        ("i4", 5, "5"),
        ("i4", "07", "7"),
        ("ui2", 65535, "65535"),
        ("r8", 1.25, "1.25"),
        ("fixed.14.4", 3.14159, "3.1416"),
        ("boolean", True, "1"),
        ("boolean", 0, "0"),
        ("boolean", "no", "0"),
        ("string", "a,b", "a,b"),
        ("date", dt.date(2020, 1, 2), "2020-01-02"),
        ("bin.base64", b"\x00\x01", "AAE="),
        ("bin.hex", b"\xff", "ff"),
    ],
)
def test_to_wire(data_type, value, text):
    assert to_wire(data_type, value) == text


@pytest.mark.parametrize(
    ("data_type", "value"),
    [
        ("i4", True),
        ("i4", 2**31),
        ("i4", 1.5),
        ("string", 5),
        ("boolean", 2),
        ("date", "x"),
        ("bin.hex", 5),
        ("bin.base64", "@@"),
    ],
)
def test_to_wire_rejects_with_402(data_type, value):
    with pytest.raises(UPnPError) as info:
        to_wire(data_type, value)
    assert info.value.code == 402


@pytest.mark.parametrize("data_type", sorted(INTEGER_RANGES))
def test_integer_bounds_round_trip(data_type):
    low, high = INTEGER_RANGES[data_type]
    for value in (low, high):
        assert from_wire(data_type, to_wire(data_type, value)) == value
    assert python_type_name(data_type) == "int"
