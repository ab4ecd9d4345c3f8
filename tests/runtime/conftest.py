"""Runtime fixtures live in rthelpers.py (importable by the tests); re-exported here for pytest."""

from tests.runtime.rthelpers import aws_env, stack  # noqa: F401
