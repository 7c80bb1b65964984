"""Wheels of installed distributions, so ``pip install .`` can run with no network (tests only).

The docs test runs the README's install command as written, inside a network
namespace with no way out; pip is pointed (by its environment:
``PIP_NO_INDEX``, ``PIP_FIND_LINKS``) at wheels repacked here from what the
test environment already has installed: upnpcm's dependencies and the build
backend, each with its own dependencies.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

#: Written by the installer, not part of a wheel.
_INSTALLER_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


def closure(roots: list[str]) -> list[metadata.Distribution]:
    """``roots`` and everything they require (no extras), as installed here."""
    seen: dict[str, metadata.Distribution] = {}
    stack = list(roots)
    while stack:
        name = canonicalize_name(stack.pop())
        if name in seen:
            continue
        dist = metadata.distribution(name)
        seen[name] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                stack.append(requirement.name)
    return list(seen.values())


def _tag(dist: metadata.Distribution) -> str:
    tags = [
        line.split(":", 1)[1].strip()
        for line in (dist.read_text("WHEEL") or "").splitlines()
        if line.startswith("Tag:")
    ]
    parts = [sorted({t.split("-")[i] for t in tags}) for i in range(3)]
    return "-".join(".".join(p) for p in parts)


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def repack(dist: metadata.Distribution, dest: Path) -> Path:
    """One installed distribution as a wheel in ``dest`` (scripts come back from entry points)."""
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    wheel = dest / f"{name}-{dist.version}-{_tag(dist)}.whl"
    record: list[str] = []
    dist_info = None
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in dist.files or []:
            path = str(file)
            parts = file.parts
            if path.startswith("..") or "__pycache__" in parts or path.endswith(".pyc"):
                continue
            if parts[0].endswith(".dist-info"):
                dist_info = parts[0]
                if parts[-1] in _INSTALLER_FILES:
                    continue
            data = Path(str(dist.locate_file(file))).read_bytes()
            archive.writestr(path, data)
            record.append(f"{path},{_digest(data)},{len(data)}")
        assert dist_info is not None, f"{name}: no .dist-info in its RECORD"
        record.append(f"{dist_info}/RECORD,,")
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return wheel


def build(dest: Path, roots: list[str]) -> list[Path]:
    """Wheels of ``roots`` and their requirements, in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    return [repack(dist, dest) for dist in closure(roots)]


def project_requirements(project: str = "upnpcm") -> list[str]:
    """The names ``project`` requires (no extras)."""
    names = []
    for text in metadata.distribution(project).requires or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.append(requirement.name)
    return names
