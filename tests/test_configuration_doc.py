"""docs/configuration.md: generated from the settings model, complete, and current."""

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from upnpcm.errors import ConfigError
from upnpcm.settings import DeviceSettings, settings_from_mapping
from upnpcm.settings_doc import KINDS, render

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
#: Values to try for a key of each type (the first that loads and changes a field is used).
SAMPLES = {
    "integer": [7],
    "number": [7.5],
    "string": ["x-test", "subnet", "sonos"],
    "string or list of strings": [["x-test"]],
    "protocolInfo list": [["http-get:*:audio/x-test:*"]],
}


def documented_keys():
    """(section, key, type, default cell) of every row of the page's key tables."""
    rows, section = [], None
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        heading = re.fullmatch(r"## (?:Top level|`\[(\w+)\]`)", line)
        if heading:
            section = heading.group(1) or ""
            continue
        row = re.fullmatch(r"\| `(\w+)` \| ([^|]+) \| ([^|]+) \| .+ \|", line)
        if row and section != "profile_options":
            rows.append((section, row.group(1), row.group(2), row.group(3)))
    return rows


def leaves(settings, prefix=""):
    """Every field of the model as a dotted name and value (nested settings opened)."""
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if dataclasses.is_dataclass(value):
            yield from leaves(value, f"{prefix}{field.name}.")
        else:
            yield f"{prefix}{field.name}", value


def document(section, key, value):
    return {section: {key: value}} if section else {key: value}


def test_the_page_is_what_the_model_generates():
    assert PAGE.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale: run `python -m upnpcm.settings_doc > docs/configuration.md`"
    )


def test_every_field_is_set_by_a_documented_key_the_loader_accepts():
    defaults = dict(leaves(DeviceSettings()))
    reached = set()
    rows = documented_keys()
    assert len(rows) > 20
    for section, key, kind, default in rows:
        assert kind in KINDS, (key, kind)
        candidates = [default != "`true`"] if kind == "boolean" else SAMPLES[kind]
        changed = set()
        for value in candidates:
            try:
                loaded = settings_from_mapping(document(section, key, value))
            except ConfigError:
                continue
            changed = {name for name, v in leaves(loaded) if v != defaults[name]}
            if changed:
                break
        assert len(changed) == 1, f"[{section}] {key}: sets {changed or 'nothing'}"
        reached |= changed
    loaded = settings_from_mapping({"profile_options": {"household": "Sonos_x"}})
    reached |= {name for name, v in leaves(loaded) if v != defaults[name]}
    assert reached == set(defaults), f"no documented key sets {set(defaults) - reached}"


def test_the_example_holds_every_key_at_its_default():
    text = PAGE.read_text(encoding="utf-8")
    block = text.split("## Every key at its default", 1)[1].split("```toml\n", 1)[1]
    example = tomllib.loads(block.split("```", 1)[0])
    assert settings_from_mapping(example) == DeviceSettings()
    written = {(s, k) for s, table in example.items() if isinstance(table, dict) for k in table}
    written |= {("", k) for k, v in example.items() if not isinstance(v, dict)}
    commented = set(re.findall(r"^# (\w+) = \.\.\.", block, re.MULTILINE))
    for section, key, _, _ in documented_keys():
        assert (section, key) in written or key in commented, (section, key)


@pytest.mark.parametrize("name", ["sonos", "standard"])
def test_each_profile_documents_exactly_the_options_it_reads(name):
    import inspect

    from upnpcm.profiles import PROFILES

    profile = PROFILES[name]
    source = inspect.getsource(inspect.getmodule(profile.build))
    read = set(re.findall(r'option_(?:text|list)\(options, "(\w+)"', source))
    read |= set(re.findall(r'options\.get\("(\w+)"', source))
    assert set(profile.options) == read
    page = PAGE.read_text(encoding="utf-8")
    for option in read:
        assert f"| {name} | `{option}` |" in page
