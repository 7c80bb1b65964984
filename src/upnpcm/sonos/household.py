"""A virtual Sonos household: N zone players in one process, and faults to inject into them.

::

    async with Household(players=3) as household:        # 127.0.0.2 … 127.0.0.4, port 1400
        kitchen = household.player("Kitchen")
        print(kitchen.location)                           # http://127.0.0.3:1400/xml/…
        kitchen.press_volume(35)                          # as if turned on the speaker
        await kitchen.reboot()                            # byebye, subscriptions gone, alive

Every player is a :class:`~upnpcm.host.DeviceHost` on its own address (by
default 127.0.0.2, 127.0.0.3, …, as real players each have one) and port
(1400, as real players; 0 gives each a free port), serving a
:class:`~upnpcm.sonos.player.ZonePlayer` of one shared
:class:`~upnpcm.sonos.model.HouseholdModel`: one household ID, one topology,
one alarm list. Each player keeps its UDN and BOOTID in a state directory
of its own (the household's for the first, ``player-<n>`` below it for the
others).

Faults (:class:`HouseholdPlayer`): reboot (rule T5: subscriptions forgotten,
BOOTID and BootSeq +1, byebye then alive), offline and back, another port,
slow or failing NOTIFYs, the next call of an action failing with a given
UPnP error, and changes "from the speaker" (volume, mute, play/pause, the
next track, a new track) that reach subscribers as any other change.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from upnpcm.host import DeviceHost
from upnpcm.profiles.sonos import zone_options
from upnpcm.service import Service
from upnpcm.settings import DeviceSettings
from upnpcm.sonos.identity import household_id
from upnpcm.sonos.model import HouseholdModel
from upnpcm.sonos.options import ZoneOptions, make_player
from upnpcm.sonos.player import ZonePlayer
from upnpcm.state import StateStore

__all__ = ["Household", "HouseholdPlayer", "player_addresses"]

#: On loopback every client of a household is the same peer (127.0.0.1): there it may hold
#: as many subscriptions per service, and HTTP connections, as the player allows (elsewhere
#: the profile's per-peer caps stay).
_LOOPBACK_PER_PEER: Final = 32


def _loopback(address: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # "" (every address) or a name


def player_addresses(count: int, first: str = "127.0.0.2") -> list[str]:
    """``count`` consecutive IPv4 addresses from ``first`` (127.0.0.2, 127.0.0.3, …)."""
    import ipaddress

    start = ipaddress.IPv4Address(first)
    return [str(start + i) for i in range(count)]


class HouseholdPlayer:
    """One player of a running household: where it is, and the faults it can be given."""

    def __init__(self, household: Household, player: ZonePlayer, host: DeviceHost) -> None:
        self.household = household
        #: The emulated zone player (its services, transport, queue).
        self.zone = player
        #: The host serving it (HTTP, GENA, SSDP).
        self.host = host

    def __repr__(self) -> str:
        return f"<HouseholdPlayer {self.room!r} {self.address}:{self.port}>"

    # ------------------------------------------------------------------ where

    @property
    def room(self) -> str:
        """Its room name."""
        return self.zone.room

    @property
    def uid(self) -> str:
        """``RINCON_…01400`` (the ZoneGroupState's UUID)."""
        return self.zone.uid

    @property
    def udn(self) -> str:
        """``uuid:RINCON_…01400``."""
        return self.zone.identity.udn

    @property
    def address(self) -> str:
        """The IP address it serves on."""
        return self.zone.address

    @property
    def port(self) -> int:
        """The HTTP port it serves on."""
        return self.zone.port

    @property
    def location(self) -> str:
        """Its description's URL."""
        return self.zone.location

    @property
    def online(self) -> bool:
        """Whether it is serving."""
        return self.host.online

    @property
    def boot_id(self) -> int:
        """BOOTID.UPNP.ORG (= its ZoneGroupState BootSeq)."""
        return self.host.boot_id or 0

    # ------------------------------------------------------------------ faults

    async def reboot(self, *, downtime: float = 0.0, port: int | None = None) -> None:
        """Reboot (T5): byebye, every subscription forgotten (renewals get 412), BOOTID +1, alive.

        It comes back silent, as a zone player does: its transport STOPPED
        (its queue, volumes and group kept). The household's ZoneGroupState
        reports its new BootSeq on every player, and lists it again if it was
        offline (it serves again).
        """
        await self.host.reboot(port=port, downtime=downtime)
        self.zone.restarted()
        self.zone.set_online(True)

    async def go_offline(self, *, byebye: bool = False) -> None:
        """Leave the network (no byebye unless asked); the others list it as vanished."""
        await self.host.go_offline(byebye=byebye)
        self.zone.set_online(False)

    async def go_online(self, *, port: int | None = None) -> None:
        """Come back (on ``port`` if given) with the next BOOTID; subscriptions were kept."""
        await self.host.go_online(port=port)
        self.zone.set_online(True)

    async def move(self, port: int) -> None:
        """Serve on another port from now on: a restart there (T5), the new Location reported."""
        await self.reboot(port=port)

    def notify_faults(self, *, delay: float = 0.0, fail: bool = False) -> None:
        """From now on every NOTIFY waits ``delay`` s, or (``fail``) is not sent at all."""
        faults = self.host.notify_faults
        faults.delay = delay
        faults.fail = fail

    def service(self, name: str) -> Service:
        """A service by name (``AVTransport``), ``Device/Name`` or a control-URL path.

        Raises:
            KeyError: no such service, or a name two services share.
        """
        found = [
            s
            for s in self.host.services
            if name in (s.name, s.service_type, s.service_id)
            or (s.control_url or "").strip("/").removesuffix("/Control") == name.strip("/")
        ]
        if len(found) != 1:
            what = "no service" if not found else "two services are named"
            raise KeyError(
                f"{what} {name!r} (names: MediaRenderer/ConnectionManager, AVTransport …)"
            )
        return found[0]

    def fail_next(
        self,
        service: str,
        action: str,
        code: int,
        description: str | None = None,
        *,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls of ``action`` answer UPnP error ``code`` (rule I5)."""
        self.service(service).fail_next(action, code, description, times=times)

    # --------------------------------------------------- as a person uses it

    def press_volume(self, volume: int) -> None:
        """Turn the volume on the speaker."""
        self.zone.press_volume(volume)

    def press_mute(self, mute: bool = True) -> None:
        """Mute (or unmute) on the speaker."""
        self.zone.press_mute(mute)

    def press_play_pause(self) -> str:
        """The play/pause button; returns the new TransportState."""
        return self.zone.press_play_pause()

    def press_next(self) -> None:
        """Skip to the next track of the queue."""
        self.zone.press_next()

    def play_uri(self, uri: str, metadata: str = "") -> None:
        """Start playing ``uri`` as if chosen in the Sonos app (a track change)."""
        self.zone.play_uri(uri, metadata)

    def join(self, coordinator: HouseholdPlayer | str) -> None:
        """Join another player's group (as the Sonos app would group them)."""
        target = (
            coordinator
            if isinstance(coordinator, HouseholdPlayer)
            else self.household.player(coordinator)
        )
        self.zone.join(target.uid)

    def unjoin(self) -> None:
        """Leave its group."""
        self.zone.leave()

    def describe(self) -> dict[str, object]:
        """What ``upnpcm household list`` shows of it."""
        zone = self.zone
        topology = zone.model.topology
        return {
            "room": self.room,
            "uid": self.uid,
            "address": self.address,
            "port": self.port,
            "location": self.location,
            "online": self.online,
            "bootId": self.boot_id,
            "group": topology.group_id(self.uid),
            "coordinator": topology.coordinator_of(self.uid),
            "volume": zone.rendering_control.volume,
            "transport": str(zone.coordinator.transport.state),
        }


class Household:
    """N zone players served in one process (see the module docstring).

    Args:
        players: how many players (ignored when ``addresses`` is given).
        rooms: their room names (default: Living Room, Kitchen, …).
        addresses: their IP addresses (default: 127.0.0.2, 127.0.0.3, …);
            ``()`` with one player: every address (as ``upnpcm serve``).
        port: their HTTP port (1400, as real players; 0: a free port each).
        ssdp: advertise them and answer searches.
        state_dir: where UDNs, the household ID and BOOTIDs are kept
            (default: the user's state directory).
        settings: the rest (GENA limits, interfaces, ``[profile_options]``:
            household, software_version, display_version, model_number, sink,
            source, connection_info_faults).
        seed: makes UDNs and group IDs repeatable where none are kept yet.
    """

    def __init__(
        self,
        players: int = 3,
        *,
        rooms: Sequence[str] | None = None,
        addresses: Sequence[str] | None = None,
        port: int = 1400,
        ssdp: bool = True,
        state_dir: Path | str | None = None,
        settings: DeviceSettings | None = None,
        seed: int | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        base = settings or DeviceSettings(profile="sonos")
        if addresses is None:
            addresses = player_addresses(players)
        count = max(len(addresses), 1)
        if rooms is not None and len(rooms) < count:
            raise ValueError(f"{count} players need {count} room names, not {len(rooms)}")
        gena, http = base.gena, base.http
        if all(_loopback(address) for address in addresses) and addresses:
            if gena.max_per_peer is None:
                gena = replace(gena, max_per_peer=_LOOPBACK_PER_PEER)
            if http.max_connections_per_peer is None:  # zp fetches all 16 SCPDs at once
                http = replace(http, max_connections_per_peer=http.max_connections or 64)
        self._base = replace(base, profile="sonos", port=port, ssdp=ssdp, gena=gena, http=http)
        self._rng = random.Random(seed)
        self._clock = clock
        self._addresses = list(addresses)
        self._count = count
        self._rooms = list(rooms) if rooms is not None else None
        root = StateStore(state_dir).directory
        options = zone_options(self._base)
        household = options.household or StateStore(root).identity(
            "household.sonos", lambda: household_id(self._rng)
        )
        self.model = HouseholdModel(household=household, rng=self._rng)
        self.players: list[HouseholdPlayer] = []
        for index in range(count):
            directory = root if index == 0 else root / f"player-{index + 1}"
            address = self._addresses[index] if index < len(self._addresses) else ""
            self.players.append(self._make(index, address, directory, options))
        self.started = False

    def _make(
        self, index: int, address: str, directory: Path, options: ZoneOptions
    ) -> HouseholdPlayer:
        store = StateStore(directory)
        settings = replace(self._base, host=(address,) if address else ())
        room = self._rooms[index] if self._rooms is not None else None
        player = make_player(
            self.model,
            settings,
            store,
            options,
            index=index,
            address=address,
            rng=self._rng,
            room=room,
            clock=self._clock,
        )
        host = DeviceHost(
            settings=settings, spec=player.spec(settings, store), state_dir=store.directory
        )
        return HouseholdPlayer(self, player, host)

    # ---------------------------------------------------------------- running

    async def start(self) -> None:
        """Serve every player.

        Raises:
            OSError: an address or port cannot be used (what was started is stopped again).
        """
        try:
            for handle in self.players:
                await handle.host.start()  # the player learns its port and BOOTID (on_up)
        except BaseException:
            await self.stop()
            raise
        self.started = True

    async def stop(self) -> None:
        """Stop every player (byebye first)."""
        for handle in reversed(self.players):
            if handle.host.online:
                await handle.host.stop()
        self.started = False

    async def __aenter__(self) -> Household:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------- finding

    @property
    def household_id(self) -> str:
        """``Sonos_…``."""
        return self.model.household_id

    def player(self, which: int | str) -> HouseholdPlayer:
        """A player by index, room name (any case), UUID, UDN or address.

        Raises:
            KeyError: none matches.
        """
        if isinstance(which, int):
            return self.players[which]
        wanted = which.strip()
        for handle in self.players:
            if wanted.lower() == handle.room.lower() or wanted in (
                handle.uid,
                handle.udn,
                handle.address,
                f"{handle.address}:{handle.port}",
            ):
                return handle
        rooms = ", ".join(h.room for h in self.players)
        raise KeyError(f"no player {which!r} in this household (rooms: {rooms})")
