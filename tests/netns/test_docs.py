"""Every code block of README.md and docs/*.md runs as written (tests/helpers/docblocks.py says how).

Inside the isolated namespace (tests/test_netns.py): port 1400 on 127.0.0.1 is
free there, SSDP stays there, and nothing can reach any other machine. Each
page runs in a copy of the repository, with ``upnpcm`` on PATH (as after
``. .venv/bin/activate``) and its own state and home directories. When a
command needs a device and the page has not started one, the test starts
``upnpcm serve`` (as the README's quick start does); a page that names
``$SERVER``, ``$RENDERER`` or ``$TRACK`` gets a media server (minidlna, with a
short tone) and a renderer (gmediarender) there. pip installs from wheels
of what this environment already has (``PIP_NO_INDEX``, ``PIP_FIND_LINKS``),
so the README's install command runs as written without a network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import wheelhouse
from tests.helpers.docblocks import PYTHON, SHELL, Block, Command, blocks, commands, pages

ROOT = Path(__file__).resolve().parents[2]
PAGES = pages(ROOT)
#: Seconds a command may take; a device has SERVE_WAIT to say it is serving (an install first).
COMMAND_TIMEOUT = 90.0
SERVE_WAIT = 240.0
#: What `upnpcm serve` (src/upnpcm/serve.py) and `upnpcm ui` (cli/ui.py) print once they listen.
SERVING = ("upnpcm: serving profile ", "upnpcm: UI at ")
#: A line that starts `upnpcm ui`: it runs beside the page's device, not instead of it.
_UI = re.compile(r"(?:^|[\s/&;|(])upnpcm\s+ui\b")
#: Names a page uses for a media server, a renderer and a track (README "Play media"):
#: such a page gets minidlna with a short tone and gmediarender (tests/netns/peers.py).
MEDIA = ("SERVER", "RENDERER", "TRACK")
_COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "__pycache__",
    "*_cache",
    ".hypothesis",
    "*.egg-info",
    "build",
    "dist",
    "node_modules",
)


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("wheelhouse")
    wheelhouse.build(dest, [*wheelhouse.project_requirements(), "hatchling"])
    return dest


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """SERVER, RENDERER and TRACK: minidlna (with a tone) and gmediarender, on d0."""
    import asyncio

    from tests.netns.peers import start_peers, stop_peers, until_indexed

    peers = start_peers(tmp_path_factory.mktemp("media"), servers=True)
    try:
        server, renderer = peers.need("minidlna"), peers.need("gmediarender")
        track = "Browse Folders/Album/Tone MP3"
        asyncio.run(until_indexed(server, track))
        yield {"SERVER": server, "RENDERER": renderer, "TRACK": track}
    finally:
        stop_peers(peers)


def uses_media(page: Path) -> bool:
    """Whether the page's blocks name $SERVER, $RENDERER or $TRACK (or read them in Python)."""
    text = "\n".join(block.text for block in blocks(page))
    return any(f"${name}" in text or f'"{name}"' in text for name in MEDIA)


class Device:
    """A background ``bash -c COMMAND`` that runs ``upnpcm serve``; its output kept."""

    def __init__(self, command: str, where: str, cwd: Path, env: dict[str, str]) -> None:
        self.where = where
        self.command = command
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: Ctrl-C reaches serve under bash
        )
        self.serving = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # drained to the end: `serve -v` logs every request
            self.output.append(line)
            if line.startswith(SERVING):
                self.serving.set()

    def wait_serving(self) -> None:
        deadline = time.monotonic() + SERVE_WAIT
        while not self.serving.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop(expect_clean=False)
                pytest.fail(
                    f"{self.where}: `{self.command}` did not start serving "
                    f"(exit {self.proc.returncode}):\n{''.join(self.output)[-4000:]}",
                    pytrace=False,
                )

    def stop(self, *, expect_clean: bool = True) -> None:
        """Ctrl-C, as a person stops it; it must leave cleanly (exit 0)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if expect_clean and self.proc.returncode != 0:
            pytest.fail(
                f"{self.where}: `{self.command}` did not stop cleanly on Ctrl-C "
                f"(exit {self.proc.returncode}):\n{''.join(self.output)[-4000:]}",
                pytrace=False,
            )


class Page:
    """One page's blocks, run in order in a copy of the repository."""

    def __init__(self, page: Path, tmp: Path, wheels: Path) -> None:
        self.page = page
        self.cwd = tmp / "repo"
        shutil.copytree(ROOT, self.cwd, ignore=_COPY_IGNORE)
        home = tmp / "home"
        home.mkdir()
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PIP_", "UPNPCM_", "PYTEST_", "VIRTUAL_ENV"))
        }
        self.env.update(
            {
                "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "HOME": str(home),
                "XDG_STATE_HOME": str(home / ".local" / "state"),
                "UPNPCM_STATE_DIR": str(tmp / "state"),
                "PIP_CONFIG_FILE": os.devnull,
                "PIP_NO_INDEX": "1",
                "PIP_FIND_LINKS": str(wheels),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        self.device: Device | None = None
        self.ui: Device | None = None

    def run(self) -> None:
        for block in blocks(self.page):
            if block.not_run is not None:
                check_not_run(block)
            elif block.language in SHELL:
                for command in commands(block):
                    self.shell(block, command)
            elif block.language in PYTHON:
                self.python(block)
            elif block.language == "toml":
                load_toml(block)
                (self.cwd / "upnpcm.toml").write_text(block.text, encoding="utf-8")
            else:
                check_data(block)

    def ensure_device(self, where: str) -> None:
        if self.device is None or self.device.proc.poll() is not None:
            self.device = Device("upnpcm serve", f"{where} (the test's device)", self.cwd, self.env)
            self.device.wait_serving()

    def shell(self, block: Block, command: Command) -> None:
        where = f"{block.page.name}:{command.line}"
        if command.serves and _UI.search(command.text):  # beside the device, until the page ends
            self.stop_ui()
            self.ui = Device(command.text, where, self.cwd, self.env)
            self.ui.wait_serving()
            return
        if command.serves:
            self.stop_device()
            self.device = Device(command.text, where, self.cwd, self.env)
            self.device.wait_serving()
            return
        self.ensure_device(where)
        self.finish(where, command.text, ["bash", "-c", command.text], command.expect)

    def python(self, block: Block) -> None:
        script = self.cwd / f"block_{block.line}.py"
        script.write_text(block.text, encoding="utf-8")
        self.ensure_device(block.where)
        self.finish(block.where, "the Python block", [sys.executable, str(script)], 0)

    def finish(self, where: str, what: str, args: list[str], expect: int) -> None:
        try:
            result = subprocess.run(
                args,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{where}: `{what}` ran over {COMMAND_TIMEOUT:g} s: {exc}", pytrace=False)
        if result.returncode != expect or "Traceback" in result.stderr:
            pytest.fail(
                f"{where}: `{what}` exited {result.returncode} (expected {expect})\n"
                f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}",
                pytrace=False,
            )

    def stop(self) -> None:
        self.stop_ui()
        self.stop_device()

    def stop_device(self) -> None:
        if self.device is not None:
            device, self.device = self.device, None
            device.stop()

    def stop_ui(self) -> None:
        if self.ui is not None:
            ui, self.ui = self.ui, None
            ui.stop()


def load_toml(block: Block) -> None:
    """A TOML block is a settings file: it must parse and load."""
    from upnpcm.settings import settings_from_mapping

    try:
        settings_from_mapping(tomllib.loads(block.text))
    except Exception as exc:  # whatever it is, the page is wrong
        pytest.fail(f"{block.where}: the TOML block does not load: {exc}", pytrace=False)


def check_data(block: Block) -> None:
    """JSON and XML blocks parse; text is not code; any other language is a mistake."""
    from upnpcm.core.xml import parse_xml
    from upnpcm.errors import UpnpCmError

    try:
        if block.language == "json":
            json.loads(block.text)
        elif block.language == "xml":
            parse_xml(block.text.encode("utf-8"))
        elif block.language != "text":
            pytest.fail(
                f"{block.where}: a block must say its language (sh, python, toml, json, xml, "
                f"or text for what is not code), not {block.language or 'nothing'!r}",
                pytrace=False,
            )
    except (ValueError, UpnpCmError) as exc:
        pytest.fail(f"{block.where}: the {block.language} block does not parse: {exc}")


def check_not_run(block: Block) -> None:
    """A block marked not to run still has to be well-formed, and say why it is not run."""
    assert block.not_run, f"{block.where}: 'docs-test: not run:' needs a reason"
    if block.language in SHELL:
        result = subprocess.run(["bash", "-n"], input=block.text, capture_output=True, text=True)
        assert result.returncode == 0, f"{block.where}: {result.stderr}"
    elif block.language in PYTHON:
        compile(block.text, block.where, "exec")
    else:
        check_data(block)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_block_runs_as_written(
    page: Path, wheels: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    runner = Page(page, tmp_path, wheels)
    if uses_media(page):
        runner.env.update(request.getfixturevalue("media"))
    try:
        runner.run()
    finally:
        runner.stop()
