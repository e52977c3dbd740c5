"""The code base's own checks, run with the suite so CI enforces them: ruff and mypy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    out = _run("ruff", "check", ".")
    assert out.returncode == 0, out.stdout[-4000:]


def test_the_library_cli_and_web_app_type_check() -> None:
    out = _run("mypy")  # files and settings: [tool.mypy] in pyproject.toml
    assert out.returncode == 0, out.stdout[-4000:]
