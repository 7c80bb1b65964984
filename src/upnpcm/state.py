"""The state directory: what a device keeps across restarts.

``identity.json`` holds the root UDN per profile (generated once) and the
BOOTID.UPNP.ORG counter (increased at every start, UDA 1.1 §1.2.2). Writes are
atomic (temporary file + rename), so a crash never leaves a torn file.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Final

from upnpcm.errors import UpnpCmError

__all__ = ["StateStore", "default_state_dir"]

_FILE: Final = "identity.json"
#: BOOTID.UPNP.ORG is a 31-bit value (UDA 1.1 §1.2.2).
MAX_BOOT_ID: Final = 2**31 - 1


def default_state_dir() -> Path:
    """``$UPNPCM_STATE_DIR``, else ``$XDG_STATE_HOME/upnpcm``, else ``~/.local/state/upnpcm``."""
    explicit = os.environ.get("UPNPCM_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "upnpcm"


class StateStore:
    """Read and update ``identity.json`` in a state directory."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_state_dir()

    @property
    def path(self) -> Path:
        """The identity file."""
        return self.directory / _FILE

    def load(self) -> dict[str, Any]:
        """The stored state ({} when there is none yet).

        Raises:
            UpnpCmError: the file exists but is not a JSON object.
        """
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise UpnpCmError(f"state file {self.path} is unreadable: {exc}") from None
        if not isinstance(data, dict):
            raise UpnpCmError(f"state file {self.path} is not a JSON object")
        return data

    def save(self, data: dict[str, Any]) -> None:
        """Write ``data`` atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def identity(self, key: str, make: Any = None) -> str:
        """The persisted identity ``key`` (e.g. ``udn.standard``), created on first use.

        Args:
            key: the name to store it under.
            make: a zero-argument callable producing a new value; default ``uuid:<uuid4>``.
        """
        data = self.load()
        identities = data.setdefault("identities", {})
        value = identities.get(key)
        if not isinstance(value, str) or not value:
            value = str(make()) if make is not None else f"uuid:{uuid.uuid4()}"
            identities[key] = value
            self.save(data)
        return value

    def next_boot_id(self) -> int:
        """Increase and return BOOTID.UPNP.ORG (wraps within 31 bits, skipping 0)."""
        data = self.load()
        current = data.get("boot_id")
        boot_id = current + 1 if isinstance(current, int) and 0 < current < MAX_BOOT_ID else 1
        data["boot_id"] = boot_id
        self.save(data)
        return boot_id
