import pytest

from upnpcm.core.protocol_info import parse_list
from upnpcm.profiles import build_device_spec
from upnpcm.settings import DEFAULT_SINK, DEFAULT_SOURCE, ConfigError, DeviceSettings, load_settings
from upnpcm.state import StateStore


def write(tmp_path, text):
    path = tmp_path / "upnpcm.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_profile_module_is_registered():
    # A profile module whose PROFILE is missing from PROFILES could not be chosen.
    import importlib
    import pkgutil

    import upnpcm.profiles

    found = {}
    for info in pkgutil.iter_modules(upnpcm.profiles.__path__, "upnpcm.profiles."):
        module = importlib.import_module(info.name)
        if hasattr(module, "PROFILE"):
            found[module.PROFILE.name] = module.PROFILE
    assert found == upnpcm.profiles.PROFILES
    assert set(found) == {"standard", "sonos", "renderer"}


def test_defaults_are_sensible():
    settings = DeviceSettings()
    assert settings.port is None and settings.host == () and settings.ssdp
    assert parse_list(DEFAULT_SINK).invalid == () and len(parse_list(DEFAULT_SINK)) >= 10
    assert parse_list(DEFAULT_SOURCE).invalid == ()


def test_full_file(tmp_path):
    settings = load_settings(
        write(
            tmp_path,
            """
profile = "standard"
[network]
host = ["127.0.0.1"]
port = 1500
ssdp = false
allowed_hosts = "zp.local:1500"
[device]
friendly_name = "Kitchen"
[connection_manager]
prepare_for_connection = false
max_connections = 3
[renderer]
sink = ["http-get:*:audio/flac:*", "http-get:*:audio/L16;rate=44100:DLNA.ORG_PS=-2,-1,1,2"]
[server]
enabled = false
[gena]
max_subscriptions = 4
callback_scope = "subnet"
""",
        )
    )
    assert settings.host == ("127.0.0.1",)
    assert settings.port == 1500
    assert settings.allowed_hosts == ("zp.local:1500",)
    assert settings.friendly_name == "Kitchen"
    assert settings.max_connections == 3
    assert not settings.prepare_for_connection
    assert (
        settings.renderer_sink
        == r"http-get:*:audio/flac:*,http-get:*:audio/L16;rate=44100:DLNA.ORG_PS=-2\,-1\,1\,2"
    )
    assert not settings.server
    assert settings.gena.max_subscriptions == 4
    assert settings.gena.callback_scope == "subnet"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[nope]\nx=1", "unknown section"),
        ("[device]\ncolour='red'", "unknown key 'colour'"),
        ("[network]\nport='x'", "port must be int"),
        ("[network]\nport=70000", "0..65535"),
        ("[connection_manager]\nmax_connections=0", "at least 1"),
        ("[connection_manager]\nmax_connections=true", "not a boolean"),
        ("[renderer]\nsink=['http-get:*']", "needs 4"),
        ("[renderer]\nsink='a:b:c:d,broken'", "not a protocolInfo"),
        ("[gena]\ncallback_scope='anywhere'", "callback_scope"),
        ("[gena]\nmin_timeout=10\nmax_timeout=5", "min_timeout"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_files_say_what_is_wrong(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.toml")


def test_udn_generated_once_and_kept(tmp_path):
    first = build_device_spec(DeviceSettings(), StateStore(tmp_path))
    second = build_device_spec(DeviceSettings(), StateStore(tmp_path))
    assert first.description.device.udn == second.description.device.udn
    assert first.description.device.udn.startswith("uuid:")
    other = build_device_spec(DeviceSettings(), StateStore(tmp_path / "elsewhere"))
    assert other.description.device.udn != first.description.device.udn
    udns = [d.udn for d in first.description.device.iter_devices()]
    assert len(set(udns)) == 3


def test_standard_layout(tmp_path):
    spec = build_device_spec(DeviceSettings(friendly_name="Den"), StateStore(tmp_path))
    root = spec.description.device
    assert root.friendly_name == "Den"
    assert [d.device_type for d in root.devices] == [
        "urn:schemas-upnp-org:device:MediaRenderer:1",
        "urn:schemas-upnp-org:device:MediaServer:1",
    ]
    assert [s.control_url for _, s in root.iter_services()] == [
        "/MediaRenderer/ConnectionManager/Control",
        "/MediaServer/ConnectionManager/Control",
    ]
    assert spec.connection_managers["renderer"].protocol_info() == ("", DEFAULT_SINK)
    assert spec.connection_managers["server"].protocol_info() == (DEFAULT_SOURCE, "")
    assert spec.default_port == 1400


def test_config_id_changes_exactly_with_descriptions(tmp_path):
    a = build_device_spec(DeviceSettings(), StateStore(tmp_path))
    b = build_device_spec(DeviceSettings(), StateStore(tmp_path))
    c = build_device_spec(DeviceSettings(friendly_name="Other"), StateStore(tmp_path))
    d = build_device_spec(DeviceSettings(prepare_for_connection=False), StateStore(tmp_path))
    assert a.config_id == b.config_id
    assert len({a.config_id, c.config_id, d.config_id}) == 3
    assert 0 <= a.config_id <= 16777215


def test_bad_udn_and_empty_device(tmp_path):
    with pytest.raises(ConfigError, match="UDN"):
        build_device_spec(DeviceSettings(udn="uuid:RINCON_x"), StateStore(tmp_path))
    with pytest.raises(ConfigError, match="at least one"):
        build_device_spec(DeviceSettings(renderer=False, server=False), StateStore(tmp_path))
    with pytest.raises(ConfigError, match="unknown profile"):
        build_device_spec(DeviceSettings(profile="nope"), StateStore(tmp_path))


def test_state_store_boot_id_and_corruption(tmp_path):
    store = StateStore(tmp_path)
    assert [store.next_boot_id() for _ in range(3)] == [1, 2, 3]
    store.path.write_text("[]", encoding="utf-8")
    from upnpcm.errors import UpnpCmError

    with pytest.raises(UpnpCmError):
        store.load()


def test_sonos_profile_spec(tmp_path):
    import hashlib

    from upnpcm.profiles import sonos_sid

    spec = build_device_spec(DeviceSettings(profile="sonos"), StateStore(tmp_path))
    again = build_device_spec(DeviceSettings(profile="sonos"), StateStore(tmp_path))
    root = spec.description.device
    assert root.udn == again.description.device.udn  # kept in the state directory
    assert spec.ssdp_headers["X-RINCON-HOUSEHOLD"] == again.ssdp_headers["X-RINCON-HOUSEHOLD"]
    cm_xml = next(
        h.scpd_xml for h in spec.services if h.service.scpd_url == "/xml/ConnectionManager1.xml"
    )
    assert (
        hashlib.sha256(cm_xml).hexdigest()
        == "e83cb407f88ee426584e81b72ec0cf6f81c9f7cc93d1fe0c781a76050e999c9f"
    )
    renderer = spec.connection_managers["renderer"]
    assert renderer.current_connection_ids() == ""
    assert renderer.protocol_info()[1].endswith("x-rincon-cpcontainer:*:*:*,")
    assert spec.default_port == 1400 and spec.ssdp_config_id is False
    assert spec.gena_policy.max_subscriptions == 32 and spec.gena_policy.default_timeout == 86400
    sids = {sonos_sid(n) for n in (1, 2, 2**127 + 5)}
    assert len(sids) == 3 and all(s.startswith("uuid:RINCON_") and "_sub" in s for s in sids)
    custom = build_device_spec(
        DeviceSettings(
            profile="sonos", profile_options={"household": "Sonos_test", "room_name": "Kitchen"}
        ),
        StateStore(tmp_path / "other"),
    )
    assert custom.ssdp_headers["X-RINCON-HOUSEHOLD"] == "Sonos_test"
    assert dict(custom.description.device.extras)["roomName"] == "Kitchen"
    with pytest.raises(ConfigError, match="RINCON"):
        build_device_spec(
            DeviceSettings(profile="sonos", udn="uuid:12345678-1234-4234-8234-123456789abc"),
            StateStore(tmp_path),
        )


# ------------------------------------------------------- [gena] under a profile


def gena_of(tmp_path, text):
    settings = load_settings(write(tmp_path, text))
    return build_device_spec(settings, StateStore(tmp_path)).gena_policy


def test_profile_gena_defaults(tmp_path):
    standard = gena_of(tmp_path, "")
    assert (standard.min_timeout, standard.max_timeout, standard.default_timeout) == (
        1800,
        3600,
        1800,
    )
    assert (standard.max_subscriptions, standard.max_per_peer) == (32, 8)
    sonos = gena_of(tmp_path, 'profile = "sonos"')
    assert (sonos.min_timeout, sonos.max_timeout, sonos.default_timeout) == (60, 86400, 86400)
    assert sonos.max_subscriptions == 32
    assert sonos.max_per_peer <= 8  # security.md §5: one peer cannot take every slot


def test_explicit_gena_values_win_over_the_sonos_profile(tmp_path):
    policy = gena_of(
        tmp_path,
        'profile = "sonos"\n[gena]\nmax_per_peer = 4\nmax_timeout = 3600\nmax_subscriptions = 8\n'
        'callback_scope = "subnet"\n',
    )
    assert (policy.max_per_peer, policy.max_subscriptions) == (4, 8)
    assert policy.max_timeout == 3600
    assert policy.default_timeout == 3600  # the profile's 86400 yields to the user's maximum
    assert policy.min_timeout == 60  # not given: still the profile's
    assert policy.callback_scope == "subnet"
    assert policy.xml_declaration is False  # profile behaviour that is no setting stays
    only_default = gena_of(tmp_path, 'profile = "sonos"\n[gena]\ndefault_timeout = 120\n')
    assert (only_default.min_timeout, only_default.default_timeout) == (60, 120)
    assert only_default.max_timeout == 86400


def test_explicit_gena_values_win_in_the_standard_profile_too(tmp_path):
    policy = gena_of(tmp_path, "[gena]\nmin_timeout = 5000\nmax_per_peer = 2\n")
    assert (policy.min_timeout, policy.default_timeout, policy.max_timeout) == (5000, 5000, 5000)
    assert policy.max_per_peer == 2


# ------------------------------------------------------------ text and options


@pytest.mark.parametrize("name", ["a\u0001b", "line\nbreak", "tab\there", "c1\u0085", "\ufffe"])
def test_control_characters_in_names_are_settings_errors(tmp_path, name):
    import json

    with pytest.raises(ConfigError, match="control character"):
        load_settings(write(tmp_path, f"[device]\nfriendly_name = {json.dumps(name)}\n"))
    with pytest.raises(ConfigError, match="control character"):
        build_device_spec(DeviceSettings(friendly_name=name), StateStore(tmp_path))
    with pytest.raises(ConfigError, match="control character"):
        build_device_spec(
            DeviceSettings(profile="sonos", profile_options={"room_name": name}),
            StateStore(tmp_path),
        )
    with pytest.raises(ConfigError, match="control character"):
        build_device_spec(
            DeviceSettings(profile="sonos", profile_options={"household": f"Sonos_{name}"}),
            StateStore(tmp_path),
        )


def test_printable_unicode_names_are_fine_and_parse_back(tmp_path):
    from upnpcm.core.description import parse_device_description

    spec = build_device_spec(DeviceSettings(friendly_name="Küche & <Bad> 🎵"), StateStore(tmp_path))
    parsed = parse_device_description(spec.description_xml)
    assert parsed.device.friendly_name == "Küche & <Bad> 🎵"


def test_sonos_sink_and_source_may_be_lists(tmp_path):
    settings = load_settings(
        write(
            tmp_path,
            'profile = "sonos"\n[profile_options]\n'
            'sink = ["http-get:*:audio/flac:*", "http-get:*:audio/mpeg:*"]\n'
            'source = "x-rincon:*:*:*"\n',
        )
    )
    spec = build_device_spec(settings, StateStore(tmp_path))
    assert spec.connection_managers["renderer"].protocol_info()[1] == (
        "http-get:*:audio/flac:*,http-get:*:audio/mpeg:*"
    )
    assert spec.connection_managers["server"].protocol_info()[0] == "x-rincon:*:*:*"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sink": 5}, "sink must be a string or a list"),
        ({"sink": ["ok:*:*:*", 3]}, "sink must be a string or a list"),
        ({"room_name": ["Kitchen"]}, "room_name must be a string"),
        ({"household": 12}, "household must be a string"),
        ({"connection_info_faults": "false"}, "true or false"),
    ],
)
def test_bad_sonos_options_are_settings_errors(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        build_device_spec(
            DeviceSettings(profile="sonos", profile_options=options), StateStore(tmp_path)
        )


def test_sonos_household_with_braces_is_served_as_written(tmp_path):
    from upnpcm.core.ssdp import SsdpConfig

    spec = build_device_spec(
        DeviceSettings(profile="sonos", profile_options={"household": "Sonos_{x}{0}{boot_id"}),
        StateStore(tmp_path),
    )
    config = SsdpConfig(server="s", boot_id=9, headers=spec.ssdp_headers)
    headers = dict(config.common())
    assert headers["X-RINCON-HOUSEHOLD"] == "Sonos_{x}{0}{boot_id"
    assert headers["X-RINCON-BOOTSEQ"] == "9"


def test_connection_idle_timeout_setting(tmp_path):
    settings = load_settings(
        write(tmp_path, "[connection_manager]\nconnection_idle_timeout = 90\n")
    )
    assert settings.connection_idle_timeout == 90
    spec = build_device_spec(settings, StateStore(tmp_path))
    assert spec.connection_managers["renderer"].config.connection_idle_timeout == 90
    assert DeviceSettings().connection_idle_timeout == 3600
    never = load_settings(write(tmp_path, "[connection_manager]\nconnection_idle_timeout = 0\n"))
    assert never.connection_idle_timeout == 0
    with pytest.raises(ConfigError, match="connection_idle_timeout"):
        load_settings(write(tmp_path, "[connection_manager]\nconnection_idle_timeout = -1\n"))
    with pytest.raises(ConfigError, match="connection_idle_timeout"):
        load_settings(write(tmp_path, "[connection_manager]\nconnection_idle_timeout = 'x'\n"))


def test_action_timeout_reaches_the_core(tmp_path):
    from upnpcm.host import DeviceHost

    settings = load_settings(write(tmp_path, "[network]\naction_timeout = 2.5\n"))
    assert DeviceHost(settings, state_dir=tmp_path).core.limits.action_timeout == 2.5
    with pytest.raises(ConfigError, match="action_timeout"):
        load_settings(write(tmp_path, "[network]\naction_timeout = 0\n"))


# ------------------------------------------------------------------------ [http]


def test_http_section_sets_connection_caps_and_timeouts(tmp_path):
    settings = load_settings(
        write(
            tmp_path,
            """
[http]
max_connections = 200
max_connections_per_peer = 20
header_timeout = 5
body_timeout = 12.5
keepalive_timeout = 30
""",
        )
    )
    assert settings.http.overrides() == {
        "max_connections": 200,
        "max_connections_per_peer": 20,
        "header_timeout": 5,
        "body_timeout": 12.5,
        "keepalive_timeout": 30,
    }
    assert DeviceSettings().http.overrides() == {}


def test_http_global_cap_under_the_default_per_peer_cap_lowers_it(tmp_path):
    settings = load_settings(write(tmp_path, "[http]\nmax_connections = 4\n"))
    assert settings.http.overrides() == {"max_connections": 4, "max_connections_per_peer": 4}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[http]\nmax_connections = 0", "positive"),
        ("[http]\nmax_connections_per_peer = -1", "positive"),
        ("[http]\nmax_connections = 2.5", "must be int"),
        ("[http]\nheader_timeout = 0", "positive"),
        ("[http]\nbody_timeout = inf", "finite"),
        ("[http]\nkeepalive_timeout = nan", "positive"),
        ("[http]\nkeepalive_timeout = true", "not a boolean"),
        ("[http]\nmax_connections = 10\nmax_connections_per_peer = 11", "must not exceed"),
        ("[http]\nmax_connections_per_peer = 65", "must not exceed max_connections \\(64\\)"),
        ("[http]\nmax_body = 1", "unknown key 'max_body'"),
    ],
)
def test_bad_http_values_say_what_is_wrong(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text))


def test_standard_descriptions_say_the_uda_version_server_says(tmp_path):
    """SERVER says UPnP/1.1 (and SSDP carries BOOTID/CONFIGID): the descriptions say 1.1 too."""
    from upnpcm.core.description import parse_device_description, parse_scpd

    spec = build_device_spec(DeviceSettings(), StateStore(tmp_path))
    assert " UPnP/1.1 " in spec.server_header
    assert parse_device_description(spec.description_xml).spec_version == (1, 1)
    for hosted in spec.services:
        assert parse_scpd(hosted.scpd_xml).spec_version == (1, 1)


def test_sonos_udn_carries_a_unicast_mac_under_a_sonos_oui(tmp_path):
    from upnpcm.profiles.sonos import SONOS_OUIS

    for oui in SONOS_OUIS:
        first = int(oui[:2], 16)
        assert first & 0b01 == 0, f"{oui} is a multicast OUI"
        assert first & 0b10 == 0, f"{oui} is a locally administered OUI"
    seen = set()
    for index in range(200):  # a fresh state directory each time: a fresh UDN
        spec = build_device_spec(DeviceSettings(profile="sonos"), StateStore(tmp_path / str(index)))
        mac = spec.description.device.udn.removeprefix("uuid:RINCON_").removesuffix("01400")
        assert mac[:6] in SONOS_OUIS
        assert int(mac[:2], 16) & 0b11 == 0
        seen.add(mac)
    assert len(seen) == 200
