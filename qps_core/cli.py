"""The `qps` command line. Heavy modules (boto3, quilt3) load only in the commands that need them."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .errors import QPSError

app = typer.Typer(
    name="qps",
    help="QPS, the Quilt Packaging Service: turn events into versioned Quilt packages.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="Settings file (TOML or YAML); default $QPS_CONFIG.")
]
PathsArg = Annotated[list[Path], typer.Argument(help="Event files or folders of *.json event files.")]


def _settings(config: Path | None) -> Any:
    from .settings import load_settings

    return load_settings(config)


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    widths[-1] = 0
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


@app.command()
def plan(paths: PathsArg, json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Show the package requests that events imply, without touching AWS."""
    from .inputs import read_events
    from .runner import Runner

    runner = Runner(_settings(config))
    rejected = 0
    rows: list[list[str]] = []
    for label, event in read_events(paths):
        result = runner.plan_event(event)
        rejected += result.status == "rejected"
        if json_out:
            _emit({"input": label, **result.as_dict()})
            continue
        detail = result.reason or result.error or ""
        if result.also_claimed_by:
            detail = (detail + "; " if detail else "") + "also claimed by " + ", ".join(result.also_claimed_by)
        targets = [f"s3://{r.registry} {r.package_name} <- {r.source_prefix}" for r in result.requests] or ["-"]
        for n, target in enumerate(targets):
            rows.append([label if n == 0 else "", result.status if n == 0 else "",
                         (result.adapter or "-") if n == 0 else "", target, detail if n == 0 else ""])
    if not json_out:
        typer.echo(_table(rows, ["INPUT", "STATUS", "ADAPTER", "PACKAGE", "DETAIL"]))
    raise typer.Exit(1 if rejected else 0)


@app.command()
def adapters(
    json_out: JsonOpt = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show the effective settings.")] = False,
    config: ConfigOpt = None,
) -> None:
    """List installed adapters: id, distribution, version, enabled, description."""
    from .plugins import load_adapters

    settings = _settings(config)
    found = load_adapters(settings, load_disabled=True)
    order = found.order
    infos = sorted(found.infos.values(), key=lambda i: (order.index(i.id) if i.id in order else len(order), i.id))
    if json_out:
        for info in infos:
            _emit(info.as_dict())
    else:
        rows = [[i.id, i.distribution, i.version, "yes" if i.enabled else "no", i.priority,
                 f"ERROR: {i.error}" if i.error else i.description] for i in infos]
        typer.echo(_table(rows, ["ID", "DISTRIBUTION", "VERSION", "ENABLED", "PRIORITY", "DESCRIPTION"]))
    if verbose:
        typer.echo("")
        _print_settings(settings, json_out)


def _print_settings(settings: Any, json_out: bool) -> None:
    values = settings.model_dump(mode="json")
    if json_out:
        _emit(values)
        return
    for name, value in values.items():
        env = f"QPS_{name.upper()}"
        shown = ",".join(value) if isinstance(value, list) else "" if value is None else str(value)
        typer.echo(f"{name:<22} {shown:<50} ({env})")


@app.command("settings")
def settings_cmd(json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Show the effective settings (environment QPS_* over the config file)."""
    _print_settings(_settings(config), json_out)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every error is one line on stderr; QPS_DEBUG=1 shows tracebacks."""
    debug = os.environ.get("QPS_DEBUG", "") not in ("", "0", "false")
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="qps: %(levelname)s: %(message)s")
    try:
        app(args=argv, prog_name="qps")
    except SystemExit:
        raise
    except QPSError as exc:
        if debug:
            raise
        sys.stderr.write(f"qps: error: {exc}\n")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.stderr.write("qps: interrupted\n")
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        text = " ".join(str(exc).split())
        sys.stderr.write(f"qps: internal error: {type(exc).__name__}: {text} (QPS_DEBUG=1 shows the traceback)\n")
        sys.exit(3)


if __name__ == "__main__":
    main()
