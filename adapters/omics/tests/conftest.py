"""The local HealthOmics endpoint for these tests too (the repository's tests/conftest.py holds it)."""

from tests.conftest import _omics_endpoint_is_local, fake_omics_session  # noqa: F401
