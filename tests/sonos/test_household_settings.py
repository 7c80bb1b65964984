"""How a household is put together from settings (no sockets: nothing is started)."""

from __future__ import annotations

import pytest

from upnpcm.errors import ConfigError
from upnpcm.settings import DeviceSettings
from upnpcm.sonos.household import Household, player_addresses


def test_players_get_consecutive_loopback_addresses_rooms_and_their_own_identity(tmp_path):
    household = Household(3, port=0, state_dir=tmp_path, seed=1)
    assert [p.address for p in household.players] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert [p.room for p in household.players] == ["Living Room", "Kitchen", "Bedroom"]
    assert len({p.uid for p in household.players}) == 3
    again = Household(3, port=0, state_dir=tmp_path)  # the state directory keeps them
    assert [p.uid for p in again.players] == [p.uid for p in household.players]
    assert again.household_id == household.household_id
    assert household.player("kitchen") is household.players[1]
    assert household.player("127.0.0.4") is household.players[2]
    with pytest.raises(KeyError, match="rooms: Living Room, Kitchen, Bedroom"):
        household.player("Attic")
    assert player_addresses(2, "127.0.1.254") == ["127.0.1.254", "127.0.1.255"]


def test_on_loopback_one_peer_may_hold_what_a_player_allows_elsewhere_the_caps_stay(tmp_path):
    loopback = Household(1, addresses=["127.0.0.2"], port=0, state_dir=tmp_path / "a")
    policy = loopback.players[0].host.spec.gena_policy
    assert (policy.max_subscriptions, policy.max_per_peer) == (32, 32)
    assert loopback.players[0].host.server.limits.max_connections_per_peer == 64
    everywhere = Household(1, addresses=[""], port=0, state_dir=tmp_path / "b")
    assert everywhere.players[0].host.spec.gena_policy.max_per_peer == 8
    assert everywhere.players[0].host.server.limits.max_connections_per_peer == 8


def test_profile_options_name_the_household_and_rooms(tmp_path):
    settings = DeviceSettings(
        profile="sonos",
        profile_options={
            "household": "Sonos_test",
            "rooms": ["Hall", "Loft"],
            "model_number": "S22",
        },
    )
    household = Household(2, port=0, state_dir=tmp_path, settings=settings)
    assert household.household_id == "Sonos_test"
    assert [p.room for p in household.players] == ["Hall", "Loft"]
    assert household.players[0].zone.identity.server_header.endswith("(ZPS22)")
    with pytest.raises(ConfigError, match="rooms"):
        Household(
            1,
            port=0,
            state_dir=tmp_path,
            settings=DeviceSettings(profile_options={"rooms": "Hall"}),
        )
    with pytest.raises(ValueError, match="3 players need 3 room names"):
        Household(3, rooms=["One"], port=0, state_dir=tmp_path)
