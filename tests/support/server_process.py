"""A loopback server in a subprocess: started, waited for, and stopped at the end of a `with` block."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from qps_core.demo.endpoint import is_alive
from qps_core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]  # `python -m tests.support.…` runs from the repository root


@dataclass
class ServerProcess:
    url: str
    process: subprocess.Popen[bytes]

    @staticmethod
    def launch(argv: list[str], url: str, what: str, timeout: float, poll: float = 0.1) -> subprocess.Popen[bytes]:
        """Start `argv` and wait until `url` answers; a server that dies or never answers is a ConfigError."""
        process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not is_alive(url):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise ConfigError(f"{what} did not start at {url}")
            time.sleep(poll)
        return process

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
