"""A circuit state outside the documented values is judged unknown, never healthy."""

from __future__ import annotations

import pytest

from btconsole.health import Health, circuit_finding, circuit_health
from tests.test_health import circuit, pair

UP = pair((100, 100), (100, 100))


@pytest.mark.parametrize(
    ("provider", "state", "reason"),
    [
        ("Suspended", "Enabled", "provider state 'Suspended' not known"),
        ("Provisioned", "Throttled", "circuit state 'Throttled' not known"),
    ],
)
def test_unknown_state_with_healthy_metrics_is_unknown(
    provider: str, state: str, reason: str
) -> None:
    judged = circuit_health(circuit(UP, provider=provider, state=state))
    assert judged == Health("unknown", (reason,))
    finding = circuit_finding(circuit(UP, provider=provider, state=state))
    assert finding is not None and finding.severity == "info"


def test_unknown_state_does_not_hide_what_the_metrics_show() -> None:
    down = circuit_health(circuit(pair((0, 0), (0, 0)), provider="Suspended"))
    assert down.state == "down" and down.reasons[-1] == "provider state 'Suspended' not known"
    degraded = circuit_health(circuit(pair((0, 0), (100, 100)), provider="Suspended"))
    assert degraded.state == "degraded"
    assert "provider state 'Suspended' not known" in degraded.reasons


def test_unknown_state_without_metrics_says_both() -> None:
    assert circuit_health(circuit((), provider="Suspended")) == Health(
        "unknown", ("provider state 'Suspended' not known", "no metrics")
    )


@pytest.mark.parametrize("provider", ["NotProvisioned", "provisioning", "Deprovisioning", ""])
def test_documented_states_and_empty_are_still_down(provider: str) -> None:
    assert circuit_health(circuit(UP, provider=provider)).state == "down"
