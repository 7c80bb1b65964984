"""docs/configuration.md, generated from the settings model.

::

    python -m upnpcm.settings_doc > docs/configuration.md

Every TOML key comes from :mod:`upnpcm.settings`: the fields of
:class:`~upnpcm.settings.DeviceSettings` and the loader's tables that place
them in sections, and each nested settings dataclass (``gena`` and any
other) as a section of its own, keyed by its field names. A key's meaning is
the ``#:`` comment above its field; its type and default come from the field.
``[profile_options]`` lists what each profile reads (its ``Profile.options``).
A field with no TOML key or no comment is an error here, so the page cannot
fall behind the model (tests/test_configuration_doc.py regenerates it).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import sys
import textwrap
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from upnpcm import settings as model
from upnpcm.core.protocol_info import parse_list

__all__ = ["KINDS", "Key", "keys", "main", "render", "toml_value"]

#: The types a key can have, as the page names them.
KINDS: Final = (
    "boolean",
    "integer",
    "number",
    "string",
    "string or list of strings",
    "protocolInfo list",
)

_TOP: Final = ""  # the section of keys written before any [section]


@dataclass(frozen=True, slots=True)
class Key:
    """One TOML key: where it is written, what it sets, and what the page says of it."""

    section: str
    name: str
    #: The field it sets, dotted for nested settings (``gena.min_timeout``).
    attr: str
    kind: str
    default: object
    meaning: str


def _comments(cls: type) -> dict[str, str]:
    """The ``#:`` comment above each field of ``cls``, joined into one line."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    found: dict[str, str] = {}
    (node,) = ast.parse(source).body
    assert isinstance(node, ast.ClassDef)
    for statement in node.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            above: list[str] = []
            index = statement.lineno - 2
            while index >= 0 and lines[index].strip().startswith("#:"):
                above.insert(0, lines[index].strip().removeprefix("#:").strip())
                index -= 1
            if above:
                found[statement.target.id] = " ".join(above)
    return found


def _kind(annotation: object) -> str:
    """The page's name for a field's type (``int | None`` is an integer that may be left out)."""
    if isinstance(annotation, types.UnionType):
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is tuple:
        return "string or list of strings"
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if annotation in names:
        return names[annotation]
    raise TypeError(f"no TOML type for {annotation!r}")


def _loader_kind(kind: type | tuple[type, ...]) -> str:
    return "number" if isinstance(kind, tuple) and float in kind else _kind(kind)


def _default(field: dataclasses.Field[Any]) -> object:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def keys() -> list[Key]:
    """Every key the settings file may hold, section by section, in the model's order.

    Raises:
        LookupError: a field has no TOML key, or no ``#:`` comment saying what it means.
    """
    cls = model.DeviceSettings
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    meaning = _comments(cls)
    placed: dict[str, tuple[str, str, str]] = {"profile": (_TOP, "profile", "string")}
    for section, table in model._SECTIONS.items():
        for key, (attr, kind) in table.items():
            placed[attr] = (section, key, _loader_kind(kind))
    for (section, key), attr in model._LIST_KEYS.items():
        placed[attr] = (section, key, "string or list of strings")
    for (section, key), attr in model._PROTOCOL_KEYS.items():
        placed[attr] = (section, key, "protocolInfo list")
    found: list[Key] = []
    nested: list[Key] = []
    for name, field in fields.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            nested += _section_keys(name, typing.cast(type, hint))
            continue
        if name == "profile_options":
            continue  # listed per profile: see _profile_options
        if name not in placed:
            raise LookupError(f"DeviceSettings.{name} has no TOML key in upnpcm.settings")
        if name not in meaning:
            raise LookupError(f"DeviceSettings.{name} has no #: comment saying what it means")
        section, key, key_kind = placed[name]
        found.append(Key(section, key, name, key_kind, _default(field), meaning[name]))
    order = {
        section: index for index, section in enumerate(dict.fromkeys(k.section for k in found))
    }
    found.sort(key=lambda k: order[k.section])  # stable: fields keep their order in a section
    return found + nested


def _section_keys(section: str, cls: type) -> list[Key]:
    """A nested settings dataclass as a section of its own, keyed by its field names."""
    hints = typing.get_type_hints(cls)
    meaning = _comments(cls)
    out = []
    for field in dataclasses.fields(cls):
        if field.name not in meaning:
            raise LookupError(f"{cls.__name__}.{field.name} has no #: comment saying what it means")
        kind = _kind(hints[field.name])
        out.append(
            Key(
                section,
                field.name,
                f"{section}.{field.name}",
                kind,
                _default(field),
                meaning[field.name],
            )
        )
    return out


def _profile_options() -> Iterator[tuple[str, str, str]]:
    """(profile, option, meaning) of every profile's ``[profile_options]``."""
    from upnpcm.profiles import PROFILES

    for name, profile in sorted(PROFILES.items()):
        for option, text in profile.options.items():
            yield name, option, text


def toml_value(value: object) -> str:
    """``value`` written as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _default_cell(key: Key) -> str:
    if key.default is None:
        return "(see meaning)"
    if key.kind == "protocolInfo list" and key.default:
        return f"{len(parse_list(str(key.default)).entries)} entries (in the example)"
    return f"`{toml_value(key.default)}`"


def _example(found: list[Key]) -> Iterator[str]:
    """Every key at its default; a key without one is shown commented out."""
    section = None
    for key in found:
        if key.section != section:
            section = key.section
            if section:
                yield ""
                yield f"[{section}]"
        if key.default is None:
            yield f"# {key.name} = ...  (no fixed default: see the table above)"
        elif key.kind == "protocolInfo list" and key.default:
            yield f"{key.name} = ["
            yield from (f"    {toml_value(str(e))}," for e in parse_list(str(key.default)).entries)
            yield "]"
        else:
            yield f"{key.name} = {toml_value(key.default)}"


def render() -> str:
    """The whole page, as docs/configuration.md holds it."""
    found = keys()
    out = [
        "# Configuration",
        "",
        "<!-- Generated from src/upnpcm/settings.py by `python -m upnpcm.settings_doc`:",
        "     edit the #: comments there, then regenerate. tests/test_configuration_doc.py",
        "     fails when this page and the model disagree. -->",
        "",
        "`upnpcm serve --config FILE` reads a [TOML](https://toml.io) file. Every key is",
        "optional: a key left out keeps its default, and an unknown key or a value of the",
        "wrong type is refused with a message that names it (exit status 2).",
        "Options on the command line (`--host`, `--port`, `--profile`, `--no-ssdp`,",
        "`--interface`) win over the file.",
        "",
        "A protocolInfo list is a list of strings (one entry each) or one string with the",
        "entries separated by commas, served as written.",
    ]
    section = None
    for key in found:
        if key.section != section:
            section = key.section
            title = "Top level" if not section else f"`[{section}]`"
            out += [
                "",
                f"## {title}",
                "",
                "| key | type | default | meaning |",
                "|---|---|---|---|",
            ]
        out.append(f"| `{key.name}` | {key.kind} | {_default_cell(key)} | {_cell(key.meaning)} |")
    out += [
        "",
        "## `[profile_options]`",
        "",
        "Read by the profile named in `profile`; a profile ignores the options of others.",
        "",
        "| profile | key | meaning |",
        "|---|---|---|",
    ]
    out += [f"| {name} | `{option}` | {_cell(text)} |" for name, option, text in _profile_options()]
    out += [
        "",
        "## Every key at its default",
        "",
        "```toml",
        *_example(found),
        "```",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Print the page (``> docs/configuration.md`` to update it)."""
    del argv
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
