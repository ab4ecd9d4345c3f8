"""Read event files for the CLI: a file holds one event or a batch; a folder means its *.json files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .envelopes import DEFAULT_MAX_EVENTS, unwrap_bytes
from .errors import InvalidInput
from .events import Event


def expand_paths(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.json") if p.is_file())
            if not found:
                raise InvalidInput(f"{path}: the folder holds no *.json event files")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInput(f"{path}: no such file or folder")
    return files


def read_events(paths: list[Path], *, max_events: int = DEFAULT_MAX_EVENTS) -> Iterator[tuple[str, Event]]:
    """(input label, event) pairs; the label is `path`, or `path#i` when the file holds several events.

    A file holding more than `max_events` events yields one rejected (`broken`) event that says so.
    """
    for file in expand_paths(paths):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"{file}: {exc.strerror}") from None
        events = unwrap_bytes(data, max_events=max_events) or [Event("skipped", None, note="the file holds no events")]
        for event in events:
            yield (str(file) if len(events) == 1 else f"{file}#{event.index}"), event
