"""A private tmux server for the UI benchmarks: run a command in a real pty of a fixed size,
read the screen, find the process behind the pane.

Each benchmark gets its own server socket (``tmux -L``), so it neither sees nor disturbs anyone
else's tmux sessions, and ``close`` removes it with everything still running in it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"


def python() -> str:
    """The project's interpreter (the one running this script, or the venv's)."""
    candidate = VENV_BIN / "python"
    return str(candidate) if candidate.exists() else sys.executable


def levtop_command(*args: str) -> list[str]:
    script = VENV_BIN / "levtop"
    return [str(script), *args] if script.exists() else [python(), "-m", "levtop", *args]


def isolated_env(home: Path) -> dict[str, str]:
    """An environment whose config, data, logs and caches live under ``home``: a benchmark must
    not read the user's config (another theme, other assets) or write into their history.
    Python's bytecode caches are left on."""
    env = dict(os.environ)
    # Measure what a user's second start costs: with bytecode caches, which some sandboxes
    # and CI images turn off (every start would compile levtop's modules again).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "LEVTOP_CONFIG": str(home / "config" / "levtop.toml"),
        "LEVTOP_LOG": str(home / "levtop.log"),
        "TERM": "tmux-256color",
        "COLORTERM": "truecolor",
    })
    return env


class TmuxServer:
    """A tmux server of our own; sessions are panes of a given size running one command."""

    def __init__(self) -> None:
        if shutil.which("tmux") is None:
            raise SystemExit("tmux is not installed: the UI benchmarks need a real pty")
        self.home = Path(tempfile.mkdtemp(prefix="levtop-bench-"))
        self.socket = f"levtop-bench-{os.getpid()}"
        self.env = isolated_env(self.home)
        # A holder session keeps the server up between runs, so no run pays for starting it.
        self.tmux("new-session", "-d", "-s", "holder", "-x", "80", "-y", "24", "sleep 100000")

    def tmux(self, *args: str) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], env=self.env,
                                capture_output=True, text=True, check=False)
        if result.returncode != 0 and args[0] not in ("kill-session", "kill-server"):
            raise RuntimeError(f"tmux {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def start(self, name: str, command: list[str], width: int, height: int) -> None:
        """``command`` in a new detached session ``name`` of ``width`` x ``height`` cells."""
        # remain-on-exit keeps a crashed command's last screen for the error message.
        # exec: the pane's process is the command itself, not a shell waiting for it.
        self.tmux("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height),
                  "exec " + shlex.join(command))
        self.tmux("set-option", "-t", name, "remain-on-exit", "on")

    def screen(self, name: str) -> str:
        return self.tmux("capture-pane", "-p", "-t", name)

    def pid(self, name: str) -> int:
        return int(self.tmux("display-message", "-p", "-t", name, "#{pane_pid}").strip())

    def dead(self, name: str) -> bool:
        return self.tmux("display-message", "-p", "-t", name, "#{pane_dead}").strip() == "1"

    def stop(self, name: str) -> None:
        self.tmux("kill-session", "-t", name)

    def close(self) -> None:
        self.tmux("kill-server")
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> "TmuxServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
