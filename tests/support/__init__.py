"""Test support (not shipped in the wheel): an S3 emulation that answers like AWS (moto plus a shim,
behind a latency front), used by the tests and by `bench/` (run from the repository root).
Never imported by qps_core. Needs moto
(`pip install 'qps-core[test]'`).
"""
