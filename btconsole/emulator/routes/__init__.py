"""The estate's ARM route handlers, one module per domain."""

from __future__ import annotations

from btconsole.emulator.http import Router
from btconsole.emulator.routes import (
    arc,
    circuits,
    costs,
    graph,
    incidents,
    lighthouse,
    metrics,
    policy,
    resources,
)


def register(router: Router) -> None:
    """Register every ARM route the emulator serves from its estate."""
    resources.register(router)
    arc.register(router)
    circuits.register(router)
    metrics.register(router)
    policy.register(router)
    costs.register(router)
    graph.register(router)
    lighthouse.register(router)
    incidents.register(router)
