"""A local S3-compatible endpoint (moto's server in a subprocess on a free loopback port)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from ..errors import ConfigError

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_alive(url: str, timeout: float = 1.0) -> bool:
    """Any HTTP answer (even an error status) means a server is listening there."""
    try:
        with urllib.request.urlopen(f"{url}/", timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


@dataclass
class LocalEndpoint:
    """`with LocalEndpoint.start() as ep:` runs moto's server until the block ends (unless kept)."""

    url: str
    process: subprocess.Popen[bytes] | None
    keep: bool = False

    @classmethod
    def start(cls, port: int | None = None, *, keep: bool = False, timeout: float = 30.0) -> LocalEndpoint:
        try:
            import moto.server  # noqa: F401
        except ImportError:
            raise ConfigError("the local endpoint needs moto: pip install 'qps-core[demo]'") from None
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=keep,
        )
        deadline = time.monotonic() + timeout
        while not is_alive(url):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise ConfigError(f"the local S3 endpoint did not start on port {port}")
            time.sleep(0.1)
        return cls(url, process, keep)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __enter__(self) -> LocalEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.keep:
            self.stop()


def is_loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def credentials_for(url: str | None) -> None:
    """A loopback endpoint (moto, the demo) takes any credentials: supply fake ones if none are found."""
    if not url or not is_loopback(url):
        return
    import boto3

    if boto3.session.Session().get_credentials() is None:
        for key, value in FAKE_CREDENTIALS.items():
            os.environ.setdefault(key, value)


def use_endpoint(url: str) -> None:
    """Point this process (boto3, quilt3) at `url`, with fake credentials if none are set."""
    os.environ["AWS_ENDPOINT_URL"] = url
    for key, value in FAKE_CREDENTIALS.items():
        os.environ.setdefault(key, value)
