"""Every documented answer of the Arc operations btconsole calls, through the real
wrapper (SDK client pipelines over HTTPS) and the refresh engine.

HybridCompute ``Machines_ListBySubscription`` and ``MachineExtensions_List``,
Kubernetes ``ConnectedCluster_ListBySubscription``: 200 with a list (empty, paged by
``nextLink``, items without optional properties or with statuses outside the
documented ones) or ARM's error response.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from btconsole import health
from btconsole.azure import arc
from btconsole.azure.errors import AzureError, RequestError
from btconsole.cache import Cache, CacheKey
from btconsole.records import ArcRecord
from tests.azure.conftest import Emulated, run
from tests.emulator.variants.support import (
    EMPTY,
    ODD,
    PROFILE,
    Variants,
    refresh,
    with_session,
)

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.timezone.utc)


def _arc(emulated: Emulated, sub: str) -> list[ArcRecord]:
    result: list[ArcRecord] = run(lambda: with_session(emulated, lambda s: arc.list_arc(s, sub)))
    return result


def _cached(emulated: Emulated, cache: Cache, domain: str, sub: str) -> Any:
    return cache.get(CacheKey(emulated.profile(PROFILE).name, domain, sub))


def test_empty_lists_are_no_resources(emulated: Emulated, cache: Cache) -> None:
    assert _arc(emulated, EMPTY) == []
    outcomes = run(lambda: refresh(emulated, cache, "arc"))
    by_scope = {o.key.scope: o for o in outcomes}
    assert by_scope[EMPTY].status == "fetched" and by_scope[EMPTY].records == 0
    entry = _cached(emulated, cache, "arc", EMPTY)
    assert list(entry.records) == [] and entry.error is None and entry.fetched_at is not None


def test_next_link_pages_are_all_followed(emulated: Emulated, cache: Cache) -> None:
    whole = _arc(emulated, ODD)
    emulated.emulator.control("DELETE", "stats")
    emulated.emulator.add_fault(kind="page", route="arc.*", size=1)
    paged = _arc(emulated, ODD)
    assert paged == whole and len(whole) > 2
    machines = len(emulated.emulator.estate.machines_in(ODD))
    assert emulated.emulator.route_count("arc.machines.list_by_subscription") == machines
    run(lambda: refresh(emulated, cache, "arc"))
    assert list(_cached(emulated, cache, "arc", ODD).records) == whole


def test_absent_optional_properties_read_as_unknown(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="edit",
        route="arc.*",
        remove=[
            "properties.status",
            "properties.connectivityStatus",
            "properties.lastStatusChange",
            "properties.lastConnectivityTime",
            "properties.agentVersion",
            "properties.errorDetails",
            "properties.osName",
            "properties.machineFqdn",
            "properties.dnsFqdn",
            "tags",
            "location",
        ],
    )
    records = _arc(emulated, ODD)
    assert records and all(r.status == "Unknown" for r in records)
    assert all(r.agent_version is None and r.last_status_change is None for r in records)
    assert health.arc_counts(records).connected == 0
    assert health.arc_counts(records).other == len(records)
    findings = [health.arc_status_finding(r, NOW) for r in records]
    assert all(f is not None and f.severity == "info" for f in findings)
    run(lambda: refresh(emulated, cache, "arc"))
    assert list(_cached(emulated, cache, "arc", ODD).records) == records


def test_items_without_properties_at_all(emulated: Emulated) -> None:
    emulated.emulator.add_fault(kind="edit", route="arc.*", remove=["properties"])
    records = _arc(emulated, ODD)
    assert records and {r.status for r in records} == {"Unknown"}


def test_unknown_statuses_are_kept_and_never_connected(
    emulated: Emulated, names: Variants, cache: Cache
) -> None:
    records = {r.id: r for r in _arc(emulated, ODD)}
    machine = records[names.odd_machine]
    cluster = records[names.odd_cluster]
    assert machine.status == "Hibernating" and cluster.status == "Upgrading"
    for record in (machine, cluster):
        assert health.arc_bucket(record.status) == "other"
        finding = health.arc_status_finding(record, NOW)
        assert finding is not None and finding.severity == "info"
        assert repr(record.status) in finding.title
    run(lambda: refresh(emulated, cache, "arc"))
    cached = {r.id: r for r in _cached(emulated, cache, "arc", ODD).records}
    assert cached[names.odd_machine].status == "Hibernating"


def test_unknown_statuses_by_resource_graph(
    emulated: Emulated, names: Variants, cache: Cache
) -> None:
    run(lambda: refresh(emulated, cache, "arc", graph_threshold=0))
    cached = {r.id: r for r in _cached(emulated, cache, "arc", ODD).records}
    assert cached[names.odd_machine].status == "Hibernating"
    assert cached[names.odd_cluster].status == "Upgrading"
    assert cached == {r.id: r for r in _arc(emulated, ODD)}


def test_arm_error_response_fails_only_its_scope(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="arm_error",
        route="arc.machines.*",
        subscriptions=[ODD],
        status=409,
        code="MissingSubscriptionRegistration",
        message="The subscription is not registered to use namespace 'Microsoft.HybridCompute'.",
        target="Microsoft.HybridCompute",
        details=[{"code": "MissingSubscriptionRegistration", "target": "Microsoft.HybridCompute"}],
    )
    with pytest.raises(AzureError) as caught:
        _arc(emulated, ODD)
    assert caught.value.status == 409 and caught.value.code == "MissingSubscriptionRegistration"
    assert "not registered" in str(caught.value)
    outcomes = {o.key.scope: o for o in run(lambda: refresh(emulated, cache, "arc"))}
    assert outcomes[ODD].status == "failed"
    assert "not registered" in (_cached(emulated, cache, "arc", ODD).error or "")
    assert all(o.status == "fetched" for scope, o in outcomes.items() if scope != ODD)


def test_bad_request_error_response(emulated: Emulated) -> None:
    emulated.emulator.add_fault(
        kind="arm_error", route="arc.clusters.*", code="InvalidApiVersionParameter"
    )
    with pytest.raises(RequestError) as caught:
        _arc(emulated, ODD)
    assert caught.value.reason == "request" and caught.value.code == "InvalidApiVersionParameter"


# --------------------------------------------------------------------------- extensions


def _extensions(emulated: Emulated, machine_id: str) -> list[Any]:
    result: list[Any] = run(
        lambda: with_session(emulated, lambda s: arc.machine_extensions(s, machine_id))
    )
    return result


def _detail(emulated: Emulated, cache: Cache, machine_id: str) -> Any:
    from tests.emulator.variants.support import engine_for

    async def body() -> Any:
        async with engine_for(emulated, cache) as engine:
            return await engine.detail(
                emulated.profile(PROFILE).name,
                "extensions",
                machine_id,
                lambda session: arc.machine_extensions(session, machine_id),
            )

    return run(body)


def test_extensions_empty_list(emulated: Emulated, names: Variants, cache: Cache) -> None:
    assert _extensions(emulated, names.bare_machine) == []
    entry = _detail(emulated, cache, names.bare_machine)
    assert list(entry.records) == [] and entry.error is None


def test_extensions_paged_and_unknown_state(emulated: Emulated, cache: Cache) -> None:
    estate = emulated.emulator.estate
    machine = next(m for m in estate.machines_in(ODD) if len(m.extensions) > 1)
    whole = _extensions(emulated, machine.id)
    emulated.emulator.control("DELETE", "stats")
    emulated.emulator.add_fault(kind="page", route="arc.extensions.list", size=1)
    assert _extensions(emulated, machine.id) == whole
    assert emulated.emulator.route_count("arc.extensions.list") == len(machine.extensions)
    frozen = next(
        m for m in estate.machines_in(ODD) if any(e.status == "Frozen" for e in m.extensions)
    )
    states = {e.provisioning_state for e in _detail(emulated, cache, frozen.id).records}
    assert "Frozen" in states


def test_extensions_without_optional_properties(emulated: Emulated) -> None:
    estate = emulated.emulator.estate
    machine = next(m for m in estate.machines_in(ODD) if m.extensions)
    emulated.emulator.add_fault(
        kind="edit",
        route="arc.extensions.list",
        remove=["properties.instanceView", "properties.provisioningState", "properties.type"],
    )
    found = _extensions(emulated, machine.id)
    assert found and all(e.status is None and e.provisioning_state is None for e in found)


def test_extensions_error_response(emulated: Emulated, names: Variants, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="arm_error", route="arc.extensions.list", status=404, code="ResourceNotFound"
    )
    with pytest.raises(AzureError) as caught:
        _extensions(emulated, names.odd_machine)
    assert caught.value.reason == "not-found"
    entry = _detail(emulated, cache, names.odd_machine)
    assert entry.records == () and "ResourceNotFound" in (entry.error or "")
