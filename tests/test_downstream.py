"""upnpcm's pytest plugin as a downstream project meets it (tests/downstream).

The downstream tests are copied to a directory of their own and run by a fresh
pytest with no conftest and no configuration of this repository: only what is
installed (upnpcm through its ``pytest11`` entry point, SoCo, pytest-asyncio).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOWNSTREAM = Path(__file__).parent / "downstream"


@pytest.mark.timeout(180)
def test_the_fixtures_work_for_a_project_outside_the_package(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    for test_file in DOWNSTREAM.glob("test_*.py"):
        shutil.copy(test_file, project / "tests" / test_file.name)
    shutil.copy(DOWNSTREAM / "pytest.ini", project / "pytest.ini")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "PYTEST_"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", "tests"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    summary = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, summary
    assert "5 passed" in done.stdout, summary
    assert (
        "upnpcm" not in (project / "tests").joinpath("conftest.py").as_posix()
        or not (project / "tests" / "conftest.py").exists()
    )
