"""Profiles: what a hosted device looks like and how it behaves.

A profile turns :class:`~upnpcm.settings.DeviceSettings` and the persisted
identity into a :class:`DeviceSpec`: the description layout, the SCPDs, the
ConnectionManager behaviour switches, GENA grants and SSDP extras. Every
profile runs on the same core; only the configuration differs.

``standard`` (:mod:`upnpcm.profiles.standard`)
    A ``Basic:1`` root device with an embedded MediaRenderer and MediaServer,
    each with a full ConnectionManager:1.

``sonos`` (:mod:`upnpcm.profiles.sonos`)
    A zone player's ConnectionManagers, DeviceProperties and ``/status``.

A new profile is one module with a ``PROFILE = Profile(name, build, summary)``
and one line in :data:`PROFILES` below (and its name in ``upnpcm serve --profile``).
"""

from __future__ import annotations

from typing import Final

from upnpcm.errors import ConfigError
from upnpcm.profiles import sonos, standard
from upnpcm.profiles.base import DeviceSpec, Profile, cm_service, default_server_header, gena_policy
from upnpcm.profiles.sonos import sonos_sid
from upnpcm.settings import DeviceSettings
from upnpcm.state import StateStore

__all__ = [
    "PROFILES",
    "DeviceSpec",
    "Profile",
    "build_device_spec",
    "cm_service",
    "default_server_header",
    "gena_policy",
    "sonos_sid",
]

#: Every profile by name: one line per profile module.
PROFILES: Final[dict[str, Profile]] = {
    sonos.PROFILE.name: sonos.PROFILE,
    standard.PROFILE.name: standard.PROFILE,
}


def build_device_spec(settings: DeviceSettings, store: StateStore) -> DeviceSpec:
    """Build the device ``settings.profile`` describes.

    Raises:
        ConfigError: unknown profile, or settings the profile cannot use.
    """
    profile = PROFILES.get(settings.profile)
    if profile is None:
        raise ConfigError(f"unknown profile {settings.profile!r} (known: {', '.join(PROFILES)})")
    return profile.build(settings, store)
