"""ExpressRoute circuits: health (down, degraded, unknown) and their findings."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from btconsole.health.base import CircuitState, Finding, Severity
from btconsole.records import (
    CircuitRecord,
    DeviceAvailability,
)

# --------------------------------------------------------------------------- circuits


@dataclass(frozen=True)
class Health:
    """A derived state and the reasons for it (empty when healthy)."""

    state: CircuitState
    reasons: tuple[str, ...] = ()


def _percent(value: float | None) -> float | None:
    """An availability as a percentage in [0, 100]; None or NaN mean no data."""
    if value is None or math.isnan(value):
        return None
    return min(100.0, max(0.0, float(value)))


def _device_label(device: DeviceAvailability) -> str:
    return device.device or "device"


def circuit_health(c: CircuitRecord) -> Health:
    """The health of one ExpressRoute circuit.

    Availabilities are the latest BGP and ARP availability (percent) per peering and
    device. A device is *down* when its BGP or ARP availability is 0, *up* when it
    reports a value and neither is 0, and *silent* when it reports neither.

    - **down** when the provider state is reported and is not ``Provisioned``, or the
      circuit state is reported and is not ``Enabled``, or some peering has a device
      down and no device up (no device carries its traffic);
    - else **degraded** when some peering has a device down while another device of
      the same peering is up, or any availability is strictly between 0 and 100;
    - else **unknown** when no device reports any availability ("no metrics"), or the
      provider or circuit state is a value outside the documented ones (an open
      enumeration: a newer value is not judged either way);
    - else **healthy**.

    States compare case-insensitively; a state that is not reported (None) is not by
    itself a reason. Values below 0 count as 0, above 100 as 100, NaN as missing.
    Reasons list the down causes first, then the degraded ones.
    """
    down: list[str] = []
    split: list[str] = []  # a peering with one device down and another up
    partial: list[str] = []  # availabilities strictly between 0 and 100
    strange: list[str] = []  # states outside the documented values: health unknown
    provider = c.provider_state
    if provider is not None and provider.strip().lower() != "provisioned":
        if provider.strip() and provider.strip().lower() not in _PROVIDER_STATES:
            strange.append(f"provider state {provider!r} not known")
        else:
            down.append(f"provider state {provider or '(empty)'}, not Provisioned")
    state = c.circuit_state
    if state is not None and state.strip().lower() != "enabled":
        if state.strip() and state.strip().lower() not in _CIRCUIT_STATES:
            strange.append(f"circuit state {state!r} not known")
        else:
            down.append(f"circuit state {state or '(empty)'}, not Enabled")

    peerings: dict[str, list[DeviceAvailability]] = defaultdict(list)
    for item in c.availability:
        peerings[item.peering_type].append(item)
    any_data = False
    for peering in sorted(peerings):
        up: list[str] = []
        down_devices: list[str] = []
        silent: list[str] = []
        for device in sorted(peerings[peering], key=_device_label):
            label = _device_label(device)
            values = [("BGP", _percent(device.bgp)), ("ARP", _percent(device.arp))]
            known = [(name, value) for name, value in values if value is not None]
            if not known:
                silent.append(label)
                continue
            any_data = True
            zeros = [name for name, value in known if value == 0.0]
            if zeros:
                down_devices.append(f"{label} {'/'.join(zeros)} 0%")
            else:
                up.append(label)
            for name, value in known:
                if 0.0 < value < 100.0:
                    partial.append(f"{peering} {label} {name} availability {value:g}%")
        if down_devices and not up:
            extra = f"; no metrics from {', '.join(silent)}" if silent else ""
            down.append(f"{peering}: no device up ({', '.join(down_devices)}{extra})")
        elif down_devices:
            split.append(f"{peering}: {', '.join(down_devices)} while {', '.join(up)} up")
    degraded = split + partial
    if down:
        return Health("down", tuple(down + degraded + strange))
    if degraded:
        return Health("degraded", tuple(degraded + strange))
    if not any_data:
        return Health("unknown", (*strange, "no metrics"))
    if strange:
        return Health("unknown", tuple(strange))
    return Health("healthy")


# The documented values (open enumerations: Azure may add more, which are not judged).
_PROVIDER_STATES = frozenset({"notprovisioned", "provisioning", "provisioned", "deprovisioning"})
_CIRCUIT_STATES = frozenset({"enabled", "disabled"})


_CIRCUIT_SEVERITY: dict[CircuitState, Severity] = {
    "down": "critical",
    "degraded": "warning",
    "unknown": "info",
}


def circuit_finding(c: CircuitRecord, health: Health | None = None) -> Finding | None:
    """The finding for one circuit (down critical, degraded warning, unknown info)."""
    health = health or circuit_health(c)
    if health.state == "healthy":
        return None
    return Finding(
        severity=_CIRCUIT_SEVERITY[health.state],
        domain="circuits",
        profile=c.profile,
        rule="health",
        title=f"{c.name}: circuit {health.state}",
        subscription_id=c.subscription_id,
        resource_id=c.id,
        detail="; ".join(health.reasons),
    )


@dataclass(frozen=True)
class CircuitCounts:
    healthy: int = 0
    degraded: int = 0
    down: int = 0
    unknown: int = 0

    @property
    def total(self) -> int:
        return self.healthy + self.degraded + self.down + self.unknown


def circuit_counts(circuits: Iterable[CircuitRecord]) -> CircuitCounts:
    """How many circuits are in each state."""
    counts = {"healthy": 0, "degraded": 0, "down": 0, "unknown": 0}
    for c in circuits:
        counts[circuit_health(c).state] += 1
    return CircuitCounts(**counts)
