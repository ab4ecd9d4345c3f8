"""The runtime honours source switches: a switched-off source's events are ignored, saying so."""

from __future__ import annotations

import json
from pathlib import Path

from qps_core.runner import Runner
from qps_core.settings import load_settings

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "events"


def _event(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _fixture_for(adapter: str) -> dict:
    runner = Runner(load_settings())
    for path in sorted(FIXTURES.glob("*.json")):
        try:
            plans = runner.plan_value(json.loads(path.read_text()))
        except Exception:
            continue
        if len(plans) == 1 and plans[0].status == "planned" and plans[0].adapter == adapter:
            return json.loads(path.read_text())
    raise AssertionError(f"no fixture planned by {adapter}")


def test_switched_off_rocrate_event_is_ignored_with_reason() -> None:
    event = _fixture_for("rocrate")
    (plan,) = Runner(load_settings(stored={"sources": {"rocrate": False}})).plan_value(event)
    assert plan.status == "ignored" and plan.adapter == "rocrate"
    assert plan.reason == "the RO-Crate source (adapter 'rocrate') is switched off"
    (on,) = Runner(load_settings(stored={"sources": {"rocrate": True}})).plan_value(event)
    assert on.status == "planned" and on.adapter == "rocrate"


def test_switched_off_omics_event_is_ignored_with_reason() -> None:
    event = _fixture_for("omics")
    (plan,) = Runner(load_settings(stored={"sources": {"omics": False}})).plan_value(event)
    assert (plan.status, plan.reason) == ("ignored", "the HealthOmics source (adapter 'omics') is switched off")


def test_other_sources_keep_working_when_one_is_off() -> None:
    event = _fixture_for("omics")
    (plan,) = Runner(load_settings(stored={"sources": {"rocrate": False}})).plan_value(event)
    assert plan.status == "planned" and plan.adapter == "omics"


def test_an_event_nobody_claims_is_not_blamed_on_a_switch() -> None:
    other = {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}
    (plan,) = Runner(load_settings(stored={"sources": {"rocrate": False, "omics": False}})).plan_value(other)
    assert plan.status == "ignored" and "switched off" not in (plan.reason or "")


def test_disable_adapters_is_not_a_switch() -> None:
    """A deployment's `disable_adapters` keeps the adapter unloaded (not imported) and says nothing of switches."""
    event = _fixture_for("omics")
    runner = Runner(load_settings(disable_adapters=["omics"]))
    (plan,) = runner.plan_value(event)
    assert "omics" not in runner.adapters.switched_off
    assert "switched off" not in (plan.reason or "")
