"""Who a zone player says it is: UDN, MAC, serial number, household, versions.

Shapes (as real players show them, rule O1): the UDN is
``uuid:RINCON_<MAC, 12 upper-case hex digits>01400``, the MAC a unicast,
globally administered address under one of Sonos's OUIs; the serial number
is the MAC with dashes and ``:<letter>``; a household ID is ``Sonos_`` and
26 letters and digits, its "Muse" ID the household ID, a dot and 20 more.
Randomness is an argument (a :class:`random.Random`).
"""

from __future__ import annotations

import hashlib
import random
import re
import string
from dataclasses import dataclass
from typing import Final

__all__ = [
    "SONOS_OUIS",
    "PlayerIdentity",
    "household_id",
    "is_rincon_udn",
    "muse_household_id",
    "rincon_udn",
]

#: OUIs of the MAC addresses zone players carry (IEEE registry: Sonos, Inc.). Each has
#: the multicast (I/G) and local (U/L) bits of its first octet clear, as a NIC's must.
SONOS_OUIS: Final = (
    "000E58",
    "5CAAFD",
    "48A6B8",
    "949F3E",
    "B8E937",
    "347E5C",
    "542A1B",
    "F0F6C1",
    "7828CA",
    "38420B",
    "C43875",
)
_UDN: Final = re.compile(r"uuid:RINCON_[0-9A-F]{12}01400\Z")
_ALPHABET: Final = string.ascii_letters + string.digits


def rincon_udn(rng: random.Random) -> str:
    """A zone player's UDN: RINCON_, a unicast MAC under a Sonos OUI, then 01400."""
    tail = "".join(rng.choice("0123456789ABCDEF") for _ in range(6))
    return f"uuid:RINCON_{rng.choice(SONOS_OUIS)}{tail}01400"


def is_rincon_udn(udn: str) -> bool:
    """Whether ``udn`` has a zone player's shape."""
    return _UDN.match(udn) is not None


def household_id(rng: random.Random) -> str:
    """``Sonos_`` and 26 letters and digits."""
    return "Sonos_" + "".join(rng.choice(_ALPHABET) for _ in range(26))


def muse_household_id(household: str) -> str:
    """The household's "Muse" ID: the household ID, a dot and 20 characters derived from it."""
    digest = hashlib.sha256(household.encode("utf-8")).digest()
    return household + "." + "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:20])


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayerIdentity:
    """One zone player's names and versions (description, DeviceProperties, ZoneGroupState)."""

    udn: str
    room: str
    model_number: str = "S9"
    model_name: str = "Sonos Playbar"
    display_name: str = "Playbar"
    software_version: str = "86.7-77050"
    display_version: str = "16.6"
    hardware_version: str = "1.9.1.10-2.2"
    min_compatible_version: str = "84.0-00000"
    legacy_compatible_version: str = "58.0-00000"
    serial_letter: str = "D"

    def __post_init__(self) -> None:
        if not is_rincon_udn(self.udn):
            raise ValueError(f"a zone player's UDN is uuid:RINCON_<12 hex>01400, not {self.udn!r}")

    @property
    def uid(self) -> str:
        """``RINCON_…01400``: the UDN without ``uuid:`` (the ZoneGroupState's UUID)."""
        return self.udn.removeprefix("uuid:")

    @property
    def mac(self) -> str:
        """``AA:BB:CC:DD:EE:FF``."""
        digits = self.uid.removeprefix("RINCON_").removesuffix("01400")
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2))

    @property
    def serial(self) -> str:
        """``AA-BB-CC-DD-EE-FF:D``: SoCo reads the MAC from its first part."""
        return f"{self.mac.replace(':', '-')}:{self.serial_letter}"

    @property
    def server_header(self) -> str:
        """``SERVER``/``Server``: ``Linux UPnP/1.0 Sonos/<version> (ZP<model>)``."""
        return f"Linux UPnP/1.0 Sonos/{self.software_version} (ZP{self.model_number})"
