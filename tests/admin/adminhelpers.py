"""Shared constants of the admin tests (imported as tests.admin.adminhelpers)."""

ADMIN_TOKEN = "qps_admin-test-token"
API_TOKEN = "qps_api-test-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ROCRATE_EVENT = {
    "source": "aws.s3",
    "detail-type": "Object Created",
    "detail": {"bucket": {"name": "lab-data"}, "object": {"key": "study/crate-1/ro-crate-metadata.json"}},
}
