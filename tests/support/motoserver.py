"""A moto S3 server with the AWS-like shim, for benchmarks and HTTP tests.

    python -m tests.support.motoserver --port 5000

Serves moto on 127.0.0.1 (threaded, HTTP/1.1 keep-alive) with `motoshim.install()` applied, plus one
extra route: `POST /_qps/seed` with a JSON body `{"bucket", "prefix", "count", "size", "algorithm"}`
puts objects straight into the backend (`motoshim.seed`) and answers `{"keys": N}`.
`MotoShimServer.start()` runs it in a subprocess on a free port.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from qps_core.demo.endpoint import free_port
from tests.support.server_process import ServerProcess

SEED_PATH = "/_qps/seed"


def _seed_middleware(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    from tests.support import motoshim

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

    from tests.support import motoshim

    motoshim.install()
    app = DomainDispatcherApplication(create_backend_app)
    make_server(host, port, _seed_middleware(app), threaded=True).serve_forever()


class MotoShimServer(ServerProcess):
    """`with MotoShimServer.start() as server:` a shimmed moto server in a subprocess until the block ends."""

    @classmethod
    def start(cls, port: int | None = None, timeout: float = 30.0) -> MotoShimServer:
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [sys.executable, "-m", "tests.support.motoserver", "--port", str(port)]
        return cls(url, cls.launch(argv, url, "the shimmed moto server", timeout))

    def seed(self, bucket: str, prefix: str, count: int, size: int, algorithm: str | None = "SHA256") -> int:
        """Put `count` objects straight into the server's backend (see `motoshim.seed`)."""
        body = json.dumps(
            {"bucket": bucket, "prefix": prefix, "count": count, "size": size, "algorithm": algorithm}
        ).encode()
        req = urllib.request.Request(self.url + SEED_PATH, data=body, method="POST")
        with urllib.request.urlopen(req, timeout=600) as resp:
            return int(json.loads(resp.read())["keys"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
