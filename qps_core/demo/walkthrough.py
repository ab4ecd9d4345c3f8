"""`qps demo`: start a local endpoint, seed it, replay the demo events twice, print what was made."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import typer

from ..envelopes import unwrap
from ..report import replay_events
from . import DATA_BUCKET, PACKAGES_BUCKET, load_events, seed
from .endpoint import LocalEndpoint, is_alive, use_endpoint
from .omics_fake import FakeOmics, demo_run


def _state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "qps" / "demo-endpoint.json"


def _kept_endpoint() -> str | None:
    try:
        url = json.loads(_state_file().read_text())["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if isinstance(url, str) and is_alive(url) else None


def qps_command() -> str:
    """How the user ran `qps` (a path such as `.venv/bin/qps`, or plain `qps`), to print commands they can paste."""
    program = sys.argv[0] if sys.argv and Path(sys.argv[0]).name == "qps" else "qps"
    if os.path.isabs(program) and not os.path.relpath(program).startswith(".."):
        program = os.path.relpath(program)
    return shlex.quote(program)


def closing_lines(url: str, endpoint_stays: bool, qps: str = "qps") -> list[str]:
    """The demo's last lines: commands that work after it exits (the endpoint must still be running)."""
    shows = [
        f"  {qps} show s3://{DATA_BUCKET} omics-quilt/3395667 --endpoint-url {url}",
        f"  {qps} show s3://{PACKAGES_BUCKET} lims/batch-0301 --endpoint-url {url}",
    ]
    if endpoint_stays:
        return ["", "Look inside a package:", *shows]
    return [
        "",
        "The local endpoint stopped with the demo, and its packages with it. To look inside them, run",
        f"  {qps} demo --keep",
        "which leaves the endpoint running and ends with the `qps show` commands to run next.",
    ]


def run_demo(*, keep: bool, endpoint_url: str | None, json_out: bool) -> int:
    from ..runner import Runner
    from ..settings import load_settings

    endpoint: LocalEndpoint | None = None
    url = endpoint_url or _kept_endpoint()
    say = (lambda *_: None) if json_out else typer.echo
    if url is None:
        say("Starting a local S3 endpoint (moto) on loopback ...")
        endpoint = LocalEndpoint.start(keep=keep)
        url = endpoint.url
    else:
        say(f"Using the S3 endpoint at {url}")
    omics = FakeOmics(runs={run["id"]: run for run in [demo_run()]}).start()  # HealthOmics GetRun/ListRuns
    try:
        use_endpoint(url)
        os.environ["AWS_ENDPOINT_URL_OMICS"] = omics.url
        import boto3

        seed(boto3.client("s3", endpoint_url=url))
        settings = load_settings().model_copy(update={"endpoint_url": url})
        runner = Runner(settings)
        labelled = [
            (name if len(events) == 1 else f"{name}#{event.index}", event)
            for name, value in load_events()
            for events in [unwrap(value)]
            for event in events
        ]
        say(f"\nDemo data in s3://{DATA_BUCKET} (a HealthOmics run, an nf-prov RO-Crate run, a LIMS export).")
        say(f"A local HealthOmics endpoint at {omics.url} answers GetRun for the run's provenance.")
        say(f"Replaying {len(labelled)} demo events through the runner and the packager:\n")
        bad = replay_events(runner, labelled, json_out, False)
        say("\nThe same events delivered again (idempotent: nothing new is written):\n")
        bad += replay_events(runner, labelled, json_out, False)
        qps = qps_command()
        if endpoint is not None and keep:
            _state_file().parent.mkdir(parents=True, exist_ok=True)
            pid = endpoint.process.pid if endpoint.process else None
            _state_file().write_text(json.dumps({"url": url, "pid": pid}))
            say(f"\nThe endpoint keeps running at {url} (pid {pid}); `kill {pid}` stops it.")
        for line in closing_lines(url, endpoint is None or keep, qps):
            say(line)
        return 1 if bad else 0
    finally:
        omics.stop()
        if endpoint is not None and not keep:
            endpoint.stop()
