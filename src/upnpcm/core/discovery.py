"""SSDP replies and announcements as the control point reads them, sans-I/O.

:func:`interpret` turns one datagram (and where it came from) into a
:class:`Discovered`, or None when it is not a search reply or announcement
or does not parse. Numbers that are absent or malformed read as None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from upnpcm.core.http import decimal
from upnpcm.core.ssdp import SsdpMessage, parse_datagram
from upnpcm.errors import RemoteProtocolError

__all__ = ["Discovered", "Kind", "interpret", "max_age"]

Kind = Literal["response", "alive", "byebye", "update"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Discovered:
    """A search reply or an announcement."""

    kind: Kind
    usn: str
    nt: str
    location: str | None
    source: tuple[str, int]
    server: str | None = None
    boot_id: int | None = None
    config_id: int | None = None
    max_age: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def udn(self) -> str:
        """The device UDN (the USN up to ``::``)."""
        return self.usn.split("::", 1)[0]

    @classmethod
    def from_message(cls, message: SsdpMessage, source: tuple[str, int]) -> Discovered | None:
        """Build from a parsed datagram; None when it is not a reply or announcement."""
        headers = {name.upper(): value for name, value in message.headers}
        if message.kind == "RESPONSE":
            if message.status != 200:
                return None
            kind: Kind = "response"
            nt = headers.get("ST", "")
        elif message.kind == "NOTIFY":
            nts = headers.get("NTS", "").lower()
            if nts not in ("ssdp:alive", "ssdp:byebye", "ssdp:update"):
                return None
            kind = (
                "alive" if nts == "ssdp:alive" else "byebye" if nts == "ssdp:byebye" else "update"
            )
            nt = headers.get("NT", "")
        else:
            return None
        usn = headers.get("USN", "")
        if not usn:
            return None
        return cls(
            kind=kind,
            usn=usn,
            nt=nt,
            location=headers.get("LOCATION") or None,
            source=source,
            server=headers.get("SERVER"),
            boot_id=decimal(
                (headers.get("BOOTID.UPNP.ORG") or headers.get("X-RINCON-BOOTSEQ") or "").strip()
            ),
            config_id=decimal(headers.get("CONFIGID.UPNP.ORG", "").strip()),
            max_age=max_age(headers.get("CACHE-CONTROL")),
            headers=headers,
        )


def max_age(text: str | None) -> int | None:
    """The seconds of a CACHE-CONTROL ``max-age`` directive; None when absent or malformed."""
    if not text:
        return None
    name, _, value = text.partition("=")  # "max-age = 1800" (Sonos) too
    return decimal(value.strip()) if name.strip().lower() == "max-age" else None


def interpret(data: bytes, source: tuple[str, int]) -> Discovered | None:
    """One datagram from ``source``; None when it does not parse or is neither reply nor announcement."""
    try:
        message = parse_datagram(data)
    except RemoteProtocolError:
        return None
    return Discovered.from_message(message, source)
