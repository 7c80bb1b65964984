"""The event loop: uvloop by default where installed, asyncio's own when asked (--loop, $UPNPCM_LOOP)."""

from __future__ import annotations

import asyncio
import sys

import click
import pytest
from click.testing import CliRunner

from upnpcm.aio.loops import LOOP_ENV, loop_factory, resolve_loop, run
from upnpcm.cli.common import command
from upnpcm.cli.common import run as cli_run
from upnpcm.errors import ConfigError


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def test_auto_is_uvloop_where_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")  # a dependency on every platform CI runs
    monkeypatch.delenv(LOOP_ENV, raising=False)
    assert resolve_loop() == "uvloop"
    assert resolve_loop("auto") == "uvloop"
    assert run(_loop_module()) == "uvloop"


def test_auto_is_asyncio_where_uvloop_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LOOP_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert resolve_loop() == "asyncio"
    assert run(_loop_module()) == "asyncio"
    with pytest.raises(ConfigError, match="uvloop is not installed"):
        resolve_loop("uvloop")


def test_the_environment_and_the_argument_choose(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.setenv(LOOP_ENV, "asyncio")
    assert run(_loop_module()) == "asyncio"
    assert run(_loop_module(), loop="uvloop") == "uvloop"  # the argument wins
    monkeypatch.setenv(LOOP_ENV, " UVLOOP ")
    assert loop_factory()().__class__.__module__.startswith("uvloop")


def test_an_unknown_loop_is_refused_and_the_coroutine_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(LOOP_ENV, "trio")
    coro = _loop_module()
    with pytest.raises(ConfigError, match="unknown event loop 'trio'"):
        run(coro)
    assert coro.cr_frame is None  # closed: no "never awaited" warning


@click.command()
@command
def _probe(settings: object) -> None:
    async def main() -> None:
        click.echo(await _loop_module())

    cli_run(main())


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_cli_option_chooses(monkeypatch: pytest.MonkeyPatch, loop: str) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.setenv(LOOP_ENV, "uvloop" if loop == "asyncio" else "asyncio")
    result = CliRunner().invoke(_probe, ["--loop", loop, "--text"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == loop


@click.command()
@click.option("--listens", is_flag=True)
@command
def _probe_listening(settings: object, listens: bool) -> None:
    async def main() -> None:
        click.echo(await _loop_module())

    cli_run(main(), listens=listens)


@pytest.mark.parametrize(("listens", "expected"), [(False, "asyncio"), (True, "uvloop")])
def test_auto_in_the_cli_is_uvloop_only_for_commands_that_listen(
    monkeypatch: pytest.MonkeyPatch, listens: bool, expected: str
) -> None:
    """A one-shot command (call) would pay uvloop's import for nothing (bench/cli_call.py)."""
    pytest.importorskip("uvloop")
    monkeypatch.delenv(LOOP_ENV, raising=False)
    result = CliRunner().invoke(_probe_listening, ["--text", *(["--listens"] if listens else [])])
    assert result.output.strip() == expected
    monkeypatch.setenv(LOOP_ENV, "uvloop")  # asked for: every command then
    result = CliRunner().invoke(_probe_listening, ["--text"])
    assert result.output.strip() == "uvloop"


def test_the_cli_refuses_a_missing_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    result = CliRunner().invoke(_probe, ["--loop", "uvloop", "--text"])
    assert result.exit_code == 2
    assert "uvloop is not installed" in result.output


async def test_this_test_runs_on_the_loop_chosen_for_the_run(
    request: pytest.FixtureRequest,
) -> None:
    """The suite's --loop reaches pytest-asyncio (a second CI pass runs under asyncio)."""
    assert await _loop_module() == resolve_loop(request.config.getoption("--loop"))
