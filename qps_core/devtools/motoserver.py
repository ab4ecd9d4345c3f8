"""A moto S3 server with the AWS-like shim, for benchmarks and HTTP tests.

    python -m qps_core.devtools.motoserver --port 5000

Serves moto on 127.0.0.1 (threaded, HTTP/1.1 keep-alive) with `motoshim.install()` applied, plus one
extra route: `POST /_qps/seed` with a JSON body `{"bucket", "prefix", "count", "size", "algorithm"}`
puts objects straight into the backend (`motoshim.seed`) and answers `{"keys": N}`.
`MotoShimServer.start()` runs it in a subprocess on a free port.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..local_endpoint import free_port, is_alive

SEED_PATH = "/_qps/seed"


def _seed_middleware(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    from . import motoshim

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != SEED_PATH or environ.get("REQUEST_METHOD") != "POST":
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        spec = json.loads(environ["wsgi.input"].read(length) or b"{}")
        keys = motoshim.seed(
            spec["bucket"],
            spec.get("prefix", ""),
            int(spec["count"]),
            int(spec.get("size", 1024)),
            algorithm=spec.get("algorithm", "SHA256"),
            start=int(spec.get("start", 0)),
        )
        body = json.dumps({"keys": len(keys)}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return wsgi


def serve(host: str, port: int) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    from . import motoshim

    motoshim.install()
    app = DomainDispatcherApplication(create_backend_app)
    make_server(host, port, _seed_middleware(app), threaded=True).serve_forever()


@dataclass
class MotoShimServer:
    """`with MotoShimServer.start() as server:` a shimmed moto server in a subprocess until the block ends."""

    url: str
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, port: int | None = None, timeout: float = 30.0) -> MotoShimServer:
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            [sys.executable, "-m", "qps_core.devtools.motoserver", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not is_alive(url):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise ConfigError(f"the shimmed moto server did not start on port {port}")
            time.sleep(0.1)
        return cls(url, process)

    def seed(self, bucket: str, prefix: str, count: int, size: int, algorithm: str | None = "SHA256") -> int:
        """Put `count` objects straight into the server's backend (see `motoshim.seed`)."""
        body = json.dumps(
            {"bucket": bucket, "prefix": prefix, "count": count, "size": size, "algorithm": algorithm}
        ).encode()
        req = urllib.request.Request(self.url + SEED_PATH, data=body, method="POST")
        with urllib.request.urlopen(req, timeout=600) as resp:
            return int(json.loads(resp.read())["keys"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __enter__(self) -> MotoShimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
