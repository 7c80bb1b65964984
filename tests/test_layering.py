"""The core is sans-I/O: importing it pulls in no asyncio, aiohttp or socket."""

import ast
import subprocess
import sys
from pathlib import Path

import upnpcm.aio
import upnpcm.core

CORE = Path(upnpcm.core.__file__).parent
AIO = Path(upnpcm.aio.__file__).parent
#: What the asyncio adapters must not import: the CLI, the profiles and the application above them.
ABOVE_AIO = (
    "upnpcm.cli",
    "upnpcm.profiles",
    "upnpcm.serve",
    "upnpcm.host",
    "upnpcm.negotiation",
    "upnpcm.settings",
    "upnpcm.state",
    "upnpcm.control_point",
    "upnpcm.hosting",
    "upnpcm.service",
    "upnpcm.renderer",
    "upnpcm.sonos",
    "upnpcm.testing",
)
BANNED = {"asyncio", "aiohttp", "socket", "selectors", "ssl", "threading"}


def test_core_modules_import_nothing_banned():
    for path in sorted(CORE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in BANNED, f"{path.name} imports {name}"
            if isinstance(node, ast.ImportFrom) and node.module == "time":
                assert all(alias.name != "time" for alias in node.names), path.name
        assert "time.time(" not in path.read_text(encoding="utf-8"), path.name


def _imported(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names.append(module)
            names.extend(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_aio_modules_import_nothing_above_them():
    for path in sorted(AIO.rglob("*.py")):
        for name in _imported(path):
            assert not any(name == top or name.startswith(top + ".") for top in ABOVE_AIO), (
                f"aio/{path.relative_to(AIO)} imports {name}"
            )


def test_importing_the_core_loads_no_io_module():
    code = (
        "import sys\n"
        "import upnpcm.core.connection_manager, upnpcm.core.device, upnpcm.core.gena, "
        "upnpcm.core.soap, upnpcm.core.protocol_info, upnpcm.core.description\n"
        f"bad = sorted(m for m in {sorted(BANNED - {'threading'})!r} if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_one_shot_cli_path_stays_light():
    # `upnpcm call` must start fast (bench/RESULTS.md): no aiohttp, no SSDP or GENA machinery.
    code = (
        "import sys\n"
        "import upnpcm.cli, upnpcm.aio.control_point, upnpcm.core.datatypes\n"
        "heavy = ['aiohttp', 'upnpcm.aio.ssdp', 'upnpcm.core.gena', 'upnpcm.core.subscription', 'ifaddr']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


#: Module-level caches still allowed in core/, each with its reason. Everything
#: else that is mutable at module level (dict/list/set/bytearray, lru_cache) fails.
MUTABLE_ALLOWLIST = {
    # read-only after import: a lookup table, never written
    ("connection_manager.py", "_DIRECTIONS"): "constant lookup table, never written",
    ("datatypes.py", "INTEGER_RANGES"): "constant table (Final), never written",
    ("http.py", "REASONS"): "constant table (Final), never written",
    ("protocol_info.py", "MIME_ALIASES"): "constant table (Final), never written",
    ("validate.py", "_ZERO"): "constant table (Final), never written",
    # small pure helpers: bounded lru_cache, result a function of the argument only
    ("device.py", "_service_base"): "pure split of a service type; bounded",
    ("http.py", "normalise_ip"): "pure; bounded",
    ("xml.py", "check_name"): "pure name check; bounded, errors not kept",
    ("gena.py", "callback_target"): "pure URL split; bounded",
    ("soap.py", "_checked_name"): "pure name check; bounded, errors not kept",
    ("soap.py", "_response_frame"): "pure envelope text; bounded",
}
_MUTABLE_CALLS = {"dict", "list", "set", "bytearray", "defaultdict", "OrderedDict", "deque"}


def _name_of(node: ast.expr) -> str:
    """The bare name of ``f`` or ``module.f``; "" for anything else."""
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _is_lru(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Call):  # lru_cache(maxsize=…)(f)
        return _is_lru(target)
    return _name_of(target) in {"lru_cache", "cache"}


def _mutable_value(value: ast.expr | None) -> bool:
    if value is None:
        return False
    if isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp | ast.SetComp):
        return True
    if isinstance(value, ast.Call):
        return _name_of(value.func) in _MUTABLE_CALLS or _is_lru(value)
    return False


def test_core_has_no_module_level_mutable_state():
    found = set()
    for path in sorted(CORE.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and any(map(_is_lru, node.decorator_list)):
                found.add((path.name, node.name))
            elif isinstance(node, ast.Assign | ast.AnnAssign) and _mutable_value(node.value):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name) and target.id != "__all__":
                        found.add((path.name, target.id))
    assert found <= set(MUTABLE_ALLOWLIST), sorted(found - set(MUTABLE_ALLOWLIST))
    assert set(MUTABLE_ALLOWLIST) <= found, sorted(set(MUTABLE_ALLOWLIST) - found)  # stale entries


def test_the_blocking_control_point_needs_no_event_loop():
    # upnpcm.blocking is for code without asyncio, and keeps `upnpcm call` fast (bench/RESULTS.md).
    code = (
        "import sys\n"
        "import upnpcm.blocking\n"
        "heavy = ['asyncio', 'aiohttp', 'click', 'upnpcm.aio']\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
