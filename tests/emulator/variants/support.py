"""An estate written to serve the documented answer variants, and the emulator for it.

The variants estate is the small generated estate, dumped to its JSON file form, edited
as a user would edit an estate file, and loaded back (so every variant is reachable
from an estate file). Fabrikam Logistics (profile index 1) holds them:

- ``odd``: a subscription whose statuses are values outside the documented ones (a
  machine ``Hibernating``, a cluster ``Upgrading``, a circuit's provider state
  ``Suspended``, a peering ``Paused``, a policy state ``Pending``, an extension
  ``Frozen``, the subscription itself ``Expired``) and a machine with no extensions;
- ``empty``: a subscription with no Arc resources, circuits or policy states;
- ``circuits``: a subscription with several circuits, one without peerings (no metric
  time series at all), one with a device down (an empty route table), one not
  provisioned and one healthy;
- and a customer ``nobody`` whose tenant owns no subscription (an empty listing).

Faults (``edit``, ``page``, ``long_running``, ``arm_error``) give the other variants.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from btconsole.config import load_config
from btconsole.emulator.estate import Estate
from btconsole.emulator.generate import generate
from btconsole.emulator.serve import write_config
from btconsole.emulator.server import running_emulator
from tests.azure.conftest import Emulated, _environ

PROFILE = 1  # fabrikam-logistics
ODD = "1622bd79-5fec-498f-bcfb-b050acab1a6b"
CIRCUITS = "07923986-bb96-4a43-bd5c-8dfc5eda92d8"
EMPTY = "0326324d-fb69-4ffb-ba18-90c78092b4d4"
NOBODY_TENANT = "0e0e0e0e-0000-4000-8000-00000000e0e0"


@dataclass
class Variants:
    """Names of the things the variants estate was given."""

    odd_machine: str  # ARM ID of the Hibernating machine
    bare_machine: str  # ARM ID of the machine with no extensions
    odd_cluster: str
    odd_circuit: str
    no_peerings_circuit: str
    down_device_circuit: str  # its AzurePrivatePeering primary is down


def _ids(data: dict[str, Any], kind: str, sub: str) -> list[dict[str, Any]]:
    return [item for item in data[kind] if item["subscription_id"] == sub]


def _arm_id(item: dict[str, Any], provider: str) -> str:
    return (
        f"/subscriptions/{item['subscription_id']}/resourceGroups/{item['resource_group']}"
        f"/providers/{provider}/{item['name']}"
    )


def variants_estate() -> tuple[Estate, Variants]:
    """The variants estate, through its JSON file form."""
    data = json.loads(generate(seed=1, size="small").to_json())
    machines = _ids(data, "machines", ODD)
    machines[0]["status"] = "Hibernating"
    machines[1]["extensions"] = []
    machines[2]["extensions"][0]["status"] = "Frozen"
    cluster = _ids(data, "clusters", ODD)[0]
    cluster["connectivity_status"] = "Upgrading"
    circuit = _ids(data, "circuits", ODD)[0]
    circuit["service_provider_provisioning_state"] = "Suspended"
    circuit["peerings"][0]["state"] = "Paused"
    state = next(s for s in data["policy_states"] if f"/subscriptions/{ODD}/" in s["resource_id"])
    state["compliance_state"] = "Pending"
    for sub in data["subscriptions"]:
        if sub["subscription_id"] == ODD:
            sub["state"] = "Expired"

    for kind in ("machines", "clusters", "circuits"):
        data[kind] = [item for item in data[kind] if item["subscription_id"] != EMPTY]
    data["policy_states"] = [
        s for s in data["policy_states"] if f"/subscriptions/{EMPTY}/" not in s["resource_id"]
    ]

    bare, down, _, healthy = _ids(data, "circuits", CIRCUITS)[:4]
    healthy["service_provider_provisioning_state"] = "Provisioned"
    for peering in healthy["peerings"]:
        peering.update(state="Enabled", primary="up", secondary="up")
    bare["peerings"] = []
    down["peerings"][0]["state"] = "Enabled"
    down["peerings"][0]["primary"] = "down"
    down["peerings"][0]["secondary"] = "up"
    if not down["peerings"][0]["routes"]:
        down["peerings"][0]["routes"] = ["10.20.0.0/16"]

    data["tenants"].append(
        {
            "tenant_id": NOBODY_TENANT,
            "display_name": "Nobody Ltd",
            "client_id": "0e0e0e0e-0000-4000-8000-0000000000c1",
            "client_secret": "nobody-secret",
        }
    )
    data["customers"].append(
        {
            "slug": "nobody",
            "display_name": "Nobody Ltd",
            "tenant_id": NOBODY_TENANT,
            "subscription_ids": [],
            "monthly_budget": 100.0,
            "currency": "GBP",
        }
    )
    estate = Estate.from_json(json.dumps(data))
    names = Variants(
        odd_machine=_arm_id(machines[0], "Microsoft.HybridCompute/machines"),
        bare_machine=_arm_id(machines[1], "Microsoft.HybridCompute/machines"),
        odd_cluster=_arm_id(cluster, "Microsoft.Kubernetes/connectedClusters"),
        odd_circuit=_arm_id(circuit, "Microsoft.Network/expressRouteCircuits"),
        no_peerings_circuit=_arm_id(bare, "Microsoft.Network/expressRouteCircuits"),
        down_device_circuit=_arm_id(down, "Microsoft.Network/expressRouteCircuits"),
    )
    return estate, names


def emulated_variants(tmp: Path) -> Iterator[tuple[Emulated, Variants]]:
    """The variants estate served, with the config ``emulator serve`` writes for it."""
    estate, names = variants_estate()
    with running_emulator(estate) as emulator:
        path = tmp / "config.toml"
        write_config(path, estate, emulator.base_url, Path(emulator.ca_path))
        yield Emulated(emulator, load_config(path), _environ(estate)), names


def engine_for(emulated: Emulated, cache: Any, **kwargs: Any) -> Any:
    """The refresh engine as the console makes it, on the emulated config."""
    from btconsole.azure.session import AzureSession
    from btconsole.engine import Engine

    kwargs.setdefault("today", lambda: emulated.emulator.estate.as_of)

    def session(profile: Any) -> AzureSession:
        return AzureSession(profile, emulated.config, environ=emulated.environ, pools=engine.pools)

    engine = Engine(emulated.config, cache, session_factory=session, **kwargs)
    return engine


async def refresh(emulated: Emulated, cache: Any, domain: str, **kwargs: Any) -> list[Any]:
    """One forced refresh of ``domain`` for the variants profile; its outcomes."""
    engine = engine_for(emulated, cache, **kwargs)
    async with engine:
        outcomes: list[Any] = await engine.refresh_domain(
            emulated.profile(PROFILE).name, domain, force=True
        )
        return outcomes


async def with_session(emulated: Emulated, body: Any, index: int = PROFILE) -> Any:
    """``body(session)`` on a session of profile ``index``."""
    async with emulated.session(emulated.profile(index)) as session:
        return await body(session)


async def no_sleep(seconds: float) -> None:
    """The engine's sleep, for tests that do not wait out Retry-After."""
    return None
