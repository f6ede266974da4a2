"""Impact-ranked triage through a real check against the emulator's small estate
(docs/health.md): findings ordered by impact class, then severity; long-standing
hygiene never critical; failed Arc extensions are findings."""

from __future__ import annotations

import json

from btconsole.health import IMPACTS
from tests.checks.conftest import Run, Site


def test_findings_are_ordered_by_impact_and_hygiene_is_never_critical(
    small: Site, cli: Run
) -> None:
    code, out, err = cli(small, "check", "--all", "--format", "json")
    assert code == 2, out + err
    report = json.loads(out)
    every = [f for c in report["customers"] for f in c["findings"]]
    assert {f["impact"] for f in every} <= set(IMPACTS)
    for customer in report["customers"]:
        ranks = [IMPACTS.index(f["impact"]) for f in customer["findings"]]
        assert ranks == sorted(ranks), customer["profile"]
    assert not [f for f in every if f["impact"] == "hygiene" and f["severity"] == "critical"]
    # the estate's expired machines are backlog, its down circuits outages
    expired = [f for f in every if f["rule"] == "status" and " expired" in f["title"]]
    assert expired and {(f["severity"], f["impact"]) for f in expired} == {("warning", "hygiene")}
    down = [f for f in every if f["domain"] == "circuits" and f["title"].endswith("circuit down")]
    assert down and {f["impact"] for f in down} == {"outage"}


def test_a_failed_extension_is_a_degradation_finding(small: Site, cli: Run) -> None:
    failed = [
        (m, e) for m in small.estate.machines for e in m.extensions if e.status != "Succeeded"
    ]
    assert failed, "the small estate has a failed extension"
    machine, extension = failed[0]
    code, out, err = cli(small, "check", "--all", "--format", "json")
    assert code == 2, out + err
    report = json.loads(out)
    found = [
        f
        for c in report["customers"]
        for f in c["findings"]
        if f["rule"] == f"extension/{extension.name}" and f["resource_id"] == machine.id
    ]
    assert len(found) == 1, out + err
    assert (found[0]["severity"], found[0]["impact"]) == ("warning", "degradation")
    assert found[0]["title"] == f"{machine.name}: extension {extension.name} failed"
    assert found[0]["detail"]
