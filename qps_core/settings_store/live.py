"""Live pick-up of stored settings: long-running processes (a warm Lambda, `qps worker`, `qps serve`)
re-read the store's version at most every `settings_refresh_seconds` and rebuild their runner when
it changed. No redeploy, no restart."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import describe_exception
from . import SettingsStore, open_store
from .effective import load_effective

log = logging.getLogger("qps.settings")


class LiveRunner:
    """Holds the current runner; `current()` is what each event asks for."""

    def __init__(
        self,
        config_file: str | Path | None = None,
        *,
        store: SettingsStore | None = None,
        build: Callable[[Any], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        **overrides: Any,
    ) -> None:
        if build is None:
            from ..runner import Runner

            build = Runner
        self._config_file = config_file
        self._overrides = overrides
        self._build = build
        self._clock = clock
        self._lock = threading.Lock()
        effective = load_effective(config_file, store, **overrides)
        self.store = store or open_store(effective.settings)
        self.version = effective.stored.version
        self.runner = build(effective.settings)
        self._checked = clock()

    def current(self) -> Any:
        """The runner for the next event: rebuilt when the stored settings changed since the last check."""
        with self._lock:
            interval = self.runner.settings.settings_refresh_seconds
            if self._clock() - self._checked < interval:
                return self.runner
            self._checked = self._clock()
            try:
                version = self.store.version()
                if version == self.version:
                    return self.runner
                effective = load_effective(self._config_file, self.store, **self._overrides)
                self.runner = self._build(effective.settings)
            except Exception as exc:  # keep working with what we have; the next check tries again
                log.warning("could not refresh the stored settings: %s", describe_exception(exc))
                return self.runner
            log.info("stored settings changed (version %d -> %d): reloaded", self.version, effective.stored.version)
            self.version = effective.stored.version
            return self.runner
