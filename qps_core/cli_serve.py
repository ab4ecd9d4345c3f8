"""`qps serve` (the REST API under uvicorn, with a local worker pool) and `qps token`.

FastAPI and uvicorn load only inside `serve`, so `qps plan` and the Lambda queue handler never pay
for them.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import aws
from .errors import ConfigError

if TYPE_CHECKING:
    from .api.context import ApiContext

log = logging.getLogger("qps.serve")
SettingsLoader = Callable[[Path | None, str | None], Any]
_loaders: list[SettingsLoader] = []  # the CLI's settings loader, set by `register`


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, settings: Any) -> None:
    """Without any token configured, only loopback: refuse anything else with one line."""
    from .api.auth import tokens_configured

    if not tokens_configured(settings) and not is_loopback_host(host):
        raise ConfigError(
            f"refusing to listen on {host} without tokens: set QPS_API_TOKENS (see `qps token`) or listen on 127.0.0.1"
        )


def s3_probe(endpoint_url: str | None) -> Any:
    """A health check for S3: None when it answers, else a one-line reason."""
    state: dict[str, Any] = {}

    def probe() -> str | None:
        if "client" not in state:
            state["client"] = aws.client(
                "s3", endpoint_url, connect_timeout=2, read_timeout=3, retries={"max_attempts": 1}
            )
        try:
            state["client"].list_buckets()
        except Exception as exc:
            return f"S3 did not answer: {aws.error_code(exc) or type(exc).__name__}"
        return None

    return probe


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback unless tokens are configured).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = 8000,
    embedded: Annotated[
        bool, typer.Option("--embedded", help="Start a local S3 endpoint (moto) with the demo data, as `qps demo`.")
    ] = False,
    endpoint_url: Annotated[
        str | None,
        typer.Option("--endpoint-url", help="S3-compatible endpoint (default: $AWS_ENDPOINT_URL, else AWS)."),
    ] = None,
    grace_seconds: Annotated[float, typer.Option(help="On Ctrl-C or SIGTERM, wait this long for jobs.", min=0)] = 30.0,
    config: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML or YAML).")] = None,
) -> None:
    """Serve the REST API (docs at /docs) and run its jobs in a bounded local worker pool."""
    settings = _loaders[0](config, endpoint_url)
    check_bind(host, settings)
    minted = None
    if embedded and not (settings.api_tokens or settings.admin_tokens):
        from .api.auth import mint_token

        minted, digest = mint_token()  # the demo's admin page needs a login: a token for this run only
        settings = settings.model_copy(update={"admin_tokens": [digest]})
    endpoint = omics = None
    if embedded:
        from .demo import local_queues, seed
        from .demo.endpoint import LocalEndpoint, use_endpoint
        from .demo.omics_fake import FakeOmics, demo_run

        typer.echo("Starting a local S3 endpoint (moto) and a local HealthOmics endpoint on loopback ...")
        endpoint = LocalEndpoint.start()
        use_endpoint(endpoint.url)
        omics = FakeOmics(runs={"3395667": demo_run()}).start()  # GetRun and ListRuns for the demo run
        os.environ["AWS_ENDPOINT_URL_OMICS"] = omics.url
        seed(aws.client("s3", endpoint.url))
        queue, dlq = local_queues(aws.client("sqs", endpoint.url))
        settings = settings.model_copy(
            update={
                "endpoint_url": endpoint.url,
                "queue_url": settings.queue_url or queue,
                "dead_letter_queue_url": settings.dead_letter_queue_url or dlq,
            }
        )
    try:
        _run(settings, host, port, grace_seconds, demo=embedded, minted=minted)
    finally:
        if omics is not None:
            omics.stop()
        if endpoint is not None:
            endpoint.stop()


def listen(host: str, port: int) -> socket.socket:
    """Bind before announcing anything: a busy port is one line, not a log from the server."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY only then
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _run(settings: Any, host: str, port: int, grace_seconds: float, *, demo: bool, minted: str | None = None) -> None:
    import uvicorn

    from .api.app import create_app
    from .api.auth import tokens_configured
    from .runtime.compose import serve_context

    logging.getLogger("qps").setLevel(logging.INFO)
    context, pool = serve_context(settings, s3_probe=s3_probe(settings.endpoint_url))
    store = context.jobs
    app = create_app(context, hosts=[host])
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            http=problem_h11_protocol(),
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        )
    )
    sock = listen(host, port)
    port = sock.getsockname()[1]

    requeued = pool.start()
    base = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    typer.echo(f"QPS API:    {base}/docs   (OpenAPI: {base}/openapi.json)")
    typer.echo(f"Admin page: {base}/admin")
    _print_login(context, base, minted)
    typer.echo(
        f"Jobs:       {store!r}, {settings.api_workers} worker(s)" + (f"; {requeued} re-queued" if requeued else "")
    )
    if not tokens_configured(settings):
        typer.echo("No API token configured: listening on loopback only (see `qps token`).")
    if demo:
        auth = f"-H 'Authorization: Bearer {minted}' " if minted else ""
        typer.echo(
            f"""Try:  curl -s -X POST {base}/v1/packages {auth}-H 'Content-Type: application/json' """
            """-d '{"source_prefix": "s3://qps-demo-data/lims/batch-0301/", "registry": "qps-demo-packages"}'"""
        )
    if demo and settings.queue_url and settings.dead_letter_queue_url:
        typer.echo(
            f"Queues:     {settings.queue_url} (dead letters: {settings.dead_letter_queue_url}); drain with\n"
            f"            QPS_DEAD_LETTER_QUEUE_URL={settings.dead_letter_queue_url} "
            f"qps worker --queue-url {settings.queue_url} --endpoint-url {settings.endpoint_url}"
        )
    typer.echo("Ctrl-C or SIGTERM stops (running jobs finish or are queued again for the next start).")
    sys.stdout.flush()
    previous = signal.signal(signal.SIGTERM, _terminated)  # uvicorn re-raises it after its shutdown
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the signal it already handled: the server has stopped
        pass
    finally:
        busy = pool.busy
        typer.echo(
            f"Stopping: waiting up to {grace_seconds:g} s for {busy} running job(s); "
            "jobs not finished by then and queued ones run at the next start.",
            err=True,
        )
        try:
            left = pool.stop(grace_seconds)
        except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM: stop waiting
            left = pool.stop(0)
        finally:
            signal.signal(signal.SIGTERM, previous)
        if left:
            typer.echo(f"{len(left)} job(s) queued again; they run at the next start.", err=True)


def _terminated(signum: int, _frame: Any) -> None:
    """SIGTERM (systemd, `docker stop`, Kubernetes) as Ctrl-C: the same graceful stop."""
    raise KeyboardInterrupt(signal.Signals(signum).name)


MAX_HEADER_BYTES = 64 * 1024  # request line and headers; larger is 400 problem+json
LINGER_SECONDS = 2.0  # a refused request's connection stays half-open this long for the answer to arrive


def problem_h11_protocol() -> type:
    """uvicorn's h11 protocol, answering what never reaches the app (a malformed request, headers past
    MAX_HEADER_BYTES) with 400 problem+json instead of uvicorn's text/plain line (docs/api.md)."""
    import json

    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    body = json.dumps(
        {
            "type": "urn:qps:problem:bad-request",
            "title": "Malformed request",
            "status": 400,
            "detail": f"the request is not valid HTTP/1.1, or its headers are larger than {MAX_HEADER_BYTES} bytes",
            "retryable": False,
        }
    ).encode()

    class ProblemH11Protocol(H11Protocol):
        def send_400_response(self, msg: str) -> None:
            headers = [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body)):
                self.transport.write(self.conn.send(event))
            self.transport.write(self.conn.send(h11.EndOfMessage()))
            # Stop reading and half-close, then close a moment later: closing at once with the rest of
            # the oversized request unread would reset the connection and the client would never
            # see this answer.
            self.transport.pause_reading()
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)

    return ProblemH11Protocol


def _print_login(context: ApiContext, base: str, minted: str | None) -> None:
    """A one-time login URL for the admin page (when admin tokens are configured), and a minted token."""
    if context.admin is None or not context.settings.admin_tokens:
        return
    from .admin.session import token_who

    code = context.admin.login_codes.mint(token_who(context.settings.admin_tokens[0]))
    typer.echo(f"Log in:     {base}/admin/login?code={code}   (one-time link, valid 10 minutes)")
    if minted:
        typer.echo(f"Admin token for this run (Authorization: Bearer, or the login form): {minted}")


def token(
    admin: Annotated[bool, typer.Option("--admin", help="Say where an admin token goes.")] = False,
) -> None:
    """Print a new random API token and the hash to configure (only the hash is ever stored)."""
    from .api.auth import mint_token

    secret, digest = mint_token()
    setting = "QPS_ADMIN_TOKENS" if admin else "QPS_API_TOKENS"
    typer.echo(f"token: {secret}")
    typer.echo(f"hash:  {digest}")
    typer.echo(f"Add the hash to {setting} (comma separated); give the token to the client (Authorization: Bearer).")


def register(app: typer.Typer, load_settings: SettingsLoader) -> None:
    """Add `serve` and `token` to the CLI; `load_settings` is the CLI's own (config file, endpoint)."""
    _loaders[:] = [load_settings]
    app.command()(serve)
    app.command()(token)
