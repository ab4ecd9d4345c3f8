"""Development tools: an S3 emulation that answers like AWS (moto plus a shim, behind a latency front).

Used by the tests and by `bench/`; never imported by the packaging runtime. Needs moto
(`pip install 'qps-core[test]'`).
"""
