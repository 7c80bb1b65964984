"""The one error tree of upnpcm.

::

    UpnpCmError
    ├── ProtocolError                   a message broke the protocol
    │   ├── LocalProtocolError          our caller asked for something invalid
    │   │   └── ActionArgumentError     an action argument failed SCPD checks (nothing was sent)
    │   ├── ProtocolInfoError           a protocolInfo string is malformed (also a ValueError)
    │   └── RemoteProtocolError         the peer sent something invalid (.http_status)
    ├── UPnPError                       a UPnP action error (.code, .description); SOAP fault
    ├── SubscriptionError               GENA answered with an HTTP status (.http_status)
    ├── NegotiationError                a side refused a connection, or nothing matched
    ├── PlaybackError                   a renderer refused or failed to play (.code)
    ├── ConfigError                     a settings file or option is invalid (also a ValueError)
    ├── CommandError                    a CLI command gives up (.exit_code)
    └── TransportError                  the network failed
        ├── ConnectError
        ├── HttpStatusError             a device answered an HTTP error (.http_status, .reason, .detail)
        └── UpnpTimeoutError            (also a builtin TimeoutError)

``http_status`` is the one name for "the HTTP status this error maps to".
Parsers return a value or raise :class:`RemoteProtocolError`; they never leak
``KeyError``/``IndexError``/``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum
from typing import Any, Final, Literal


class ErrorCode(IntEnum):
    """UPnP error codes (UDA 1.1 §3.2.2 table 3-3; ConnectionManager:1 §2.4)."""

    INVALID_ACTION = 401
    INVALID_ARGS = 402
    ACTION_FAILED = 501
    ARGUMENT_VALUE_INVALID = 600
    ARGUMENT_VALUE_OUT_OF_RANGE = 601
    OPTIONAL_ACTION_NOT_IMPLEMENTED = 602
    OUT_OF_MEMORY = 603
    HUMAN_INTERVENTION_REQUIRED = 604
    STRING_ARGUMENT_TOO_LONG = 605
    INCOMPATIBLE_PROTOCOL_INFO = 701
    INCOMPATIBLE_DIRECTIONS = 702
    INSUFFICIENT_NETWORK_RESOURCES = 703
    LOCAL_RESTRICTIONS = 704
    ACCESS_DENIED = 705
    INVALID_CONNECTION_REFERENCE = 706
    NOT_IN_NETWORK = 707


#: Standard descriptions (UDA 1.1; ConnectionManager:1 as quoted by jUPnP).
ERROR_DESCRIPTIONS: Final[dict[int, str]] = {
    401: "Invalid Action",
    402: "Invalid Args",
    501: "Action Failed",
    600: "Argument Value Invalid",
    601: "Argument Value Out of Range",
    602: "Optional Action Not Implemented",
    603: "Out of Memory",
    604: "Human Intervention Required",
    605: "String Argument Too Long",
    701: "Incompatible protocol info",
    702: "Incompatible directions",
    703: "Insufficient network resources",
    704: "Local restrictions",
    705: "Access denied",
    706: "Invalid connection reference",
    707: "Not in network",
}


class UpnpCmError(Exception):
    """Base of every exception raised by upnpcm."""


class ProtocolError(UpnpCmError):
    """A message violated the protocol (abstract: raise a subclass)."""


class LocalProtocolError(ProtocolError):
    """Our own caller asked for something the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something invalid.

    ``http_status`` is the HTTP status a server should answer with.
    """

    def __init__(self, message: str, *, http_status: int = 400) -> None:
        super().__init__(message)
        self.http_status = http_status


class ProtocolInfoError(ProtocolError, ValueError):
    """A protocolInfo (or a list of them) is malformed (ConnectionManager:1 §2.5.2)."""


class UPnPError(UpnpCmError):
    """A UPnP action error, carried in a SOAP fault (UDA 1.1 §3.2.2).

    ``description`` is the text given (None when absent: Sonos often omits
    ``errorDescription``); :attr:`meaning` is the standard name of the code.
    """

    def __init__(self, code: int, description: str | None = None) -> None:
        self.code = int(code)
        self.description = description
        text = description or ERROR_DESCRIPTIONS.get(self.code)
        super().__init__(f"UPnP error {self.code}: {text}" if text else f"UPnP error {self.code}")

    @property
    def meaning(self) -> str | None:
        """The standard name of :attr:`code` (UDA 1.1 table 3-3, CM:1), if any."""
        return ERROR_DESCRIPTIONS.get(self.code)

    def __reduce__(self) -> tuple[type[UPnPError], tuple[int, str | None]]:
        return (type(self), (self.code, self.description))


class ActionArgumentError(LocalProtocolError):
    """An action argument failed the SCPD checks; the request was never sent.

    ``code`` is the UPnP error a device would have answered (402, 601).
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class SubscriptionError(UpnpCmError):
    """A GENA request was refused with an HTTP status, ``http_status`` (UDA 1.1 §4.1.2)."""

    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(f"{http_status} {message}")
        self.http_status = http_status


class NegotiationError(UpnpCmError):
    """A side refused (or nothing matched); what was set up has been torn down.

    ``side`` is ``"server"``, ``"renderer"`` or None (nothing matched);
    ``code`` and ``description`` the UPnP error it answered; ``torn_down``
    the outcome of each ConnectionComplete sent to undo what was prepared.
    """

    def __init__(
        self,
        message: str,
        *,
        side: Literal["server", "renderer"] | None,
        code: int | None,
        description: str | None,
        torn_down: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.side = side
        self.code = code
        self.description = description
        self.torn_down = torn_down or []


class PlaybackError(UpnpCmError):
    """A renderer refused SetAVTransportURI or Play, reported an error, or never played.

    ``code`` is the UPnP fault code it answered (None when it did not fault);
    what was set up has been torn down.
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class ConfigError(UpnpCmError, ValueError):
    """The configuration file or an option is invalid."""


class CommandError(UpnpCmError):
    """A CLI command gives up: the message for stderr and the process's ``exit_code``.

    ``details`` go into the JSON error object the CLI prints when its output is JSON.
    """

    def __init__(
        self, exit_code: int, message: str, *, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.details: Mapping[str, Any] = details or {}


class TransportError(UpnpCmError):
    """The network failed: connect, read, or a size or time limit."""


class ConnectError(TransportError):
    """The peer could not be reached."""


class HttpStatusError(TransportError):
    """A device answered ``method url`` with an HTTP error status.

    ``http_status`` and ``reason`` are its status line; ``detail`` the first
    line of a plain-text body (what the device says is wrong), or "".
    """

    def __init__(
        self, method: str, url: str, http_status: int, reason: str = "", detail: str = ""
    ) -> None:
        status_line = f"HTTP {http_status}" + (f" {reason}" if reason else "")
        super().__init__(f"{method} {url}: {status_line}" + (f": {detail}" if detail else ""))
        self.method = method
        self.url = url
        self.http_status = http_status
        self.reason = reason
        self.detail = detail


class UpnpTimeoutError(TransportError, TimeoutError):
    """A network operation took longer than its limit."""
