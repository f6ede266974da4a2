"""Request counters: per route name, per status, and per (route, status).

Tests read these through ``GET /_emulator/stats`` to count calls and retries instead of
timing sleeps. The control routes themselves (``_emulator.*``) are not counted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


class Stats:
    """In-memory counters, touched only from the server's event loop."""

    def __init__(self) -> None:
        self.total = 0
        self.by_route: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.by_route_status: dict[str, Counter[int]] = {}
        self.faults: Counter[str] = Counter()
        self.cost_qpu: Counter[str] = Counter()

    def record(self, route: str, status: int) -> None:
        """Count one answered request (or one dropped by a ``reset``/``hang`` fault, as 0)."""
        self.total += 1
        self.by_route[route] += 1
        self.by_status[status] += 1
        per = self.by_route_status.get(route)
        if per is None:
            per = self.by_route_status[route] = Counter()
        per[status] += 1

    def fault_fired(self, kind: str) -> None:
        """Count one firing of a fault of ``kind``."""
        self.faults[kind] += 1

    def qpu_consumed(self, tenant_id: str, qpu: int) -> None:
        """Count Cost Management query processing units spent by a caller tenant."""
        self.cost_qpu[tenant_id.lower()] += qpu

    def reset(self) -> None:
        """Forget every count."""
        self.total = 0
        self.by_route.clear()
        self.by_status.clear()
        self.by_route_status.clear()
        self.faults.clear()
        self.cost_qpu.clear()

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON-ready data (status codes as strings)."""
        return {
            "total": self.total,
            "by_route": dict(sorted(self.by_route.items())),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_route_status": {
                route: {str(k): v for k, v in sorted(per.items())}
                for route, per in sorted(self.by_route_status.items())
            },
            "faults": dict(sorted(self.faults.items())),
            "cost_qpu_by_tenant": dict(sorted(self.cost_qpu.items())),
        }
