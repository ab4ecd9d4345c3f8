"""Hypothesis profiles for the fuzz tests: bounded examples everywhere, derandomized in CI.

`CI=true` (as CI services set it) selects the `ci` profile: a fixed seed per test, so a run is
reproducible and never flaky; locally the `dev` profile explores new examples on every run.
`HYPOTHESIS_PROFILE=<name>` picks a profile explicitly (e.g. `thorough` for a long local hunt).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

_COMMON: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", max_examples=60, derandomize=True, database=None, **_COMMON)
settings.register_profile("dev", max_examples=60, **_COMMON)
settings.register_profile("thorough", max_examples=2_000, **_COMMON)
_in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _in_ci else "dev"))
