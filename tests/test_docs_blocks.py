"""The code blocks of README.md and docs/*.md, checked without running them (fast, no namespace).

tests/netns/test_docs.py runs them; this catches a block that could not run at
all (unknown language, a TOML file the loader refuses, Python or shell that
does not parse) even where no network namespace can be made.
"""

import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.helpers.docblocks import LANGUAGES, PYTHON, SHELL, Block, blocks, commands, pages
from upnpcm.settings import settings_from_mapping

ROOT = Path(__file__).resolve().parents[1]
PAGES = pages(ROOT)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_block_can_run(page):
    for block in blocks(page):
        assert block.language in LANGUAGES, (
            f"{block.where}: say the language (one of {sorted(LANGUAGES)}), "
            f"not {block.language or 'nothing'!r}"
        )
        if block.not_run is not None:
            assert block.not_run.strip(), f"{block.where}: 'docs-test: not run:' needs a reason"
        if block.language in SHELL:
            result = subprocess.run(
                ["bash", "-n"], input=block.text, capture_output=True, text=True
            )
            assert result.returncode == 0, f"{block.where}: {result.stderr}"
        elif block.language in PYTHON:
            compile(block.text, block.where, "exec")
        elif block.language == "toml":
            settings_from_mapping(tomllib.loads(block.text))


def test_the_readme_starts_and_shows_a_device_and_runs_almost_everything():
    readme = blocks(ROOT / "README.md")
    first = commands(readme[0])
    assert [c.serves for c in first] == [True]
    assert "pip install ." in first[0].text and first[0].text.endswith("upnpcm serve")
    assert commands(readme[1])[0].text.endswith("upnpcm describe 127.0.0.1")
    skipped = [b for b in readme if b.not_run is not None]
    assert [commands(b)[0].text for b in skipped] == ["bash scripts/test"]  # rare, and explained


def test_how_blocks_are_read(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "text\n\n<!-- docs-test: not run: because -->\n```sh\nrm -rf /nothing\n```\n\n"
        "- item\n\n   ```sh\n   # a comment\n   upnpcm call 127.0.0.1 \\\n     MR/CM X   # exit 2: why\n"
        "   upnpcm serve --port 1400\n   upnpcm serve --help\n   ```\n",
        encoding="utf-8",
    )
    first, second = blocks(page)
    assert (first.line, first.language, first.not_run) == (4, "sh", "because")
    assert isinstance(second, Block) and second.not_run is None
    one, two, three = commands(second)
    assert (one.line, one.expect, one.serves) == (12, 2, False)
    assert one.text.startswith("upnpcm call 127.0.0.1    MR/CM X")
    assert (two.serves, three.serves) == (True, False)
