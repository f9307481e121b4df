"""Run nightcrew as real processes (serve, worker) for crash and scale-out tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from nightcrew.playbook import sample_playbook_path


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def open_all_hours_playbook(folder: Path) -> Path:
    """A copy of the sample playbook that may send at any hour: crash tests run on the wall clock."""
    shutil.copytree(sample_playbook_path().parent, folder, dirs_exist_ok=True)
    path = folder / "playbook.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["hours"] = {
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start": "00:00",
        "end": "23:59",
        "default_timezone": "UTC",
        "holidays": {"enabled": False},
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


class NightcrewProcess:
    """``nightcrew serve`` in a child process."""

    def __init__(self, env: dict[str, str], cwd: Path, port: int, *, api_only: bool = False) -> None:
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.port = port
        self.api_only = api_only
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = cwd / f"serve-{port}.log"

    @property
    def url(self) -> str:
        """The API's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> NightcrewProcess:
        """Start and wait until /healthz answers."""
        exe = Path(sys.executable).parent / "nightcrew"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(exe), "serve", "--port", str(self.port), *(["--api-only"] if self.api_only else [])],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nightcrew serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError(f"nightcrew serve did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class WorkerProcess:
    """``nightcrew worker --executor-id ID`` in a child process."""

    def __init__(self, env: dict[str, str], cwd: Path, executor_id: str) -> None:
        self.env = {**os.environ, **env}
        self.cwd = cwd
        self.executor_id = executor_id
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = cwd / f"worker-{executor_id}.log"

    def start(self) -> WorkerProcess:
        """Start; it is ready once it printed that it runs."""
        exe = Path(sys.executable).parent / "nightcrew"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(exe), "worker", "--executor-id", self.executor_id],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.executor_id} exited: {self.log.read_text()[-2000:]}")
            if "running on" in self.log.read_text(errors="replace"):
                return self
            time.sleep(0.1)
        raise TimeoutError(f"worker {self.executor_id} did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
