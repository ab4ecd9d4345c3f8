"""The admin pages and issue 18: filters in the New package form, `source_filters` on the Settings
page, a job's changes on its page (docs/design.md §8, §12)."""

from __future__ import annotations

import html as html_lib
import json
import re
from typing import Any

from fastapi.testclient import TestClient

from qps_core.jobs.model import Changes, Job, JobResult, Trigger
from tests.admin.test_pages import csrf_of, login, version_of
from tests.helpers import LOCAL


def test_new_package_form_takes_include_and_exclude(make_app: Any) -> None:
    client = TestClient(make_app()[0], base_url=LOCAL, follow_redirects=False)
    login(client)
    form = {
        "csrf": csrf_of(client.get("/admin/new").text),
        "source_prefix": "s3://lab-data/runs/7/",
        "include": "data/**\n\n*.csv\n",
        "exclude": "work/",
        "action": "plan",
    }
    plan = client.post("/admin/new", data=form)
    assert plan.status_code == 200, plan.text
    planned = re.search(r"<pre><code>(.*?)</code></pre>", plan.text, re.DOTALL)
    assert planned is not None
    request = json.loads(html_lib.unescape(planned.group(1)))
    assert (request["include"], request["exclude"]) == (["data/**", "*.csv"], ["work/"])
    bad = client.post("/admin/new", data={**form, "exclude": "x" * 1025})
    assert bad.status_code == 422 and 'id="e-exclude"' in bad.text and "1025 characters" in bad.text


def test_settings_page_edits_source_filters_as_json(make_app: Any) -> None:
    client = TestClient(make_app()[0], base_url=LOCAL, follow_redirects=False)
    login(client)
    page = client.get("/admin/settings").text
    assert 'id="v-source_filters"' in page
    data = {"csrf": csrf_of(page), "name": "source_filters", "action": "save"}
    value = {"rocrate": {"exclude": ["work/", "*.tmp"]}}
    saved = client.post("/admin/settings", data={**data, "version": version_of(page), "value": json.dumps(value)})
    assert saved.status_code == 303, saved.text
    page = client.get("/admin/settings").text
    shown = re.search(r'id="v-source_filters" name="value" type="text" value="([^"]*)"', page)
    assert shown is not None
    assert json.loads(html_lib.unescape(shown.group(1))) == value  # shown as it is typed: saving it again works
    again = client.post(
        "/admin/settings", data={**data, "version": version_of(page), "value": html_lib.unescape(shown.group(1))}
    )
    assert again.status_code == 303
    page = client.get("/admin/settings").text
    bad = client.post(
        "/admin/settings", data={**data, "version": version_of(page), "value": '{"rocrate": {"exclude": "work/"}}'}
    )
    assert bad.status_code == 422 and 'id="e-source_filters"' in bad.text and "rocrate" in bad.text


def test_job_page_shows_the_changes(make_app: Any) -> None:
    app, context = make_app()
    client = TestClient(app, base_url=LOCAL, follow_redirects=False)
    login(client)
    changes = Changes(
        added=120,
        removed=1,
        modified=0,
        unchanged=7,
        keys={
            "added": [f"new/{n:03}.csv" for n in range(100)],
            "removed": ["old.txt"],
            "modified": [],
            "unchanged": [],
        },
    )
    result = JobResult(
        status="created",
        registry="reg",
        package_name="team/run",
        top_hash="a" * 64,
        files=127,
        bytes=1000,
        quilt_uri="quilt+s3://reg#package=team/run@" + "a" * 64,
        changes=changes,
    )
    job = Job(id="f" * 32, status="succeeded", trigger=Trigger(kind="api"), request={}, result=result)
    context.jobs.create(job)
    page = client.get(f"/admin/jobs/{job.id}").text
    assert "120 added, 1 removed, 0 modified, 7 unchanged" in page
    assert "Added (120, first 100 shown)" in page and "<code>new/099.csv</code>" in page
    assert "Removed (1)" in page and "<code>old.txt</code>" in page
    assert "Modified (" not in page
