"""What the device core asks its adapter to do (rule T3).

Every call into :class:`~upnpcm.core.device.DeviceCore` that can have a
consequence beyond its HTTP answer returns these, in one list: the adapter
carries them out in order, after the answer it belongs to is written, and
reports back what only the I/O world can know (a NOTIFY's outcome).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from upnpcm.core.gena import Notification

__all__ = ["Effect", "LeasesExpired", "SendNotify", "ServiceFailed", "SubscriptionEnded"]


@dataclass(frozen=True, slots=True)
class SendNotify:
    """Deliver ``message`` (try its callbacks in order), then report the outcome.

    The report is :meth:`DeviceCore.notify_done` with this ``path`` and the
    message's SID: the status of the last answer, or None when no callback answered.
    """

    path: str
    message: Notification


@dataclass(frozen=True, slots=True)
class SubscriptionEnded:
    """A subscription is gone: nothing more will be sent to it (for the log)."""

    path: str
    sid: str
    reason: Literal["unsubscribed", "expired", "dropped", "forgotten"]


@dataclass(frozen=True, slots=True)
class ServiceFailed:
    """A service raised unexpectedly; it was answered with fault 501 (H5). Log it."""

    operation: str
    error: BaseException


@dataclass(frozen=True, slots=True)
class LeasesExpired:
    """A leased service dropped idle state (H7); its subscribers are being told."""

    path: str
    dropped: tuple[object, ...]


Effect = SendNotify | SubscriptionEnded | ServiceFailed | LeasesExpired
