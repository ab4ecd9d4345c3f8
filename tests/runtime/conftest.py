"""Runtime fixtures live in rthelpers.py (importable by the tests); re-exported here for pytest."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from rthelpers import aws_env, stack  # noqa: F401
