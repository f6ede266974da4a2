"""Every documented answer of the ExpressRoute and Monitor operations btconsole calls,
through the real wrapper (SDK clients over HTTPS) and the refresh engine.

``ExpressRouteCircuits_ListAll`` (empty, paged, optional properties absent, states
outside the documented ones, ARM's error), ``Metrics_List`` (no time series, points
without values, ARM's error), ``GetStats``/``GetPeeringStats`` (counters absent) and the
long-running ``ListArpTable``/``ListRoutesTable``/``ListRoutesTableSummary`` POSTs
(200 at once; 202 with ``Location``, polled; 202 with ``Azure-AsyncOperation``;
operations that fail or are canceled; empty tables; rows without optional columns).
"""

from __future__ import annotations

from typing import Any

import pytest

from btconsole import health
from btconsole.azure import circuits
from btconsole.azure.errors import AzureError, UnavailableError
from btconsole.cache import Cache, CacheKey
from btconsole.records import CircuitRecord
from tests.azure.conftest import Emulated, run
from tests.emulator.variants.support import (
    CIRCUITS,
    EMPTY,
    ODD,
    PROFILE,
    Variants,
    engine_for,
    no_sleep,
    refresh,
    with_session,
)


def _circuits(emulated: Emulated, sub: str) -> list[CircuitRecord]:
    result: list[CircuitRecord] = run(
        lambda: with_session(emulated, lambda s: circuits.list_circuits(s, sub))
    )
    return result


def _by_id(records: Any) -> dict[str, CircuitRecord]:
    return {r.id: r for r in records}


def _cached(emulated: Emulated, cache: Cache, sub: str) -> Any:
    return cache.get(CacheKey(emulated.profile(PROFILE).name, "circuits", sub))


# --------------------------------------------------------------------------- the listing


def test_empty_list_is_no_circuits(emulated: Emulated, cache: Cache) -> None:
    assert _circuits(emulated, EMPTY) == []
    outcomes = {o.key.scope: o for o in run(lambda: refresh(emulated, cache, "circuits"))}
    assert outcomes[EMPTY].status == "fetched" and outcomes[EMPTY].records == 0


def test_next_link_pages_are_all_followed(emulated: Emulated, cache: Cache) -> None:
    whole = _circuits(emulated, CIRCUITS)
    emulated.emulator.control("DELETE", "stats")
    emulated.emulator.add_fault(kind="page", route="circuits.list_all", size=1)
    assert _circuits(emulated, CIRCUITS) == whole
    count = len(emulated.emulator.estate.circuits_in(CIRCUITS))
    assert emulated.emulator.route_count("circuits.list_all") == count > 1
    run(lambda: refresh(emulated, cache, "circuits"))
    assert list(_cached(emulated, cache, CIRCUITS).records) == whole


def test_absent_optional_properties(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="edit",
        route="circuits.list_all",
        remove=[
            "sku",
            "tags",
            "properties.serviceProviderProperties",
            "properties.serviceKey",
            "properties.peerings",
            "properties.circuitProvisioningState",
            "properties.serviceProviderProvisioningState",
        ],
    )
    found = _circuits(emulated, CIRCUITS)
    assert found and all(c.provider is None and c.bandwidth_mbps is None for c in found)
    assert all(c.peerings == () and c.provider_state is None for c in found)
    # health comes from the metrics alone then; a circuit without any is unknown
    assert all(health.circuit_health(c).state == "unknown" for c in found if not c.availability)
    assert all(health.circuit_health(c).state != "down" or c.availability for c in found)
    run(lambda: refresh(emulated, cache, "circuits"))
    assert list(_cached(emulated, cache, CIRCUITS).records) == found


def test_unknown_provider_state_from_the_estate(
    emulated: Emulated, names: Variants, cache: Cache
) -> None:
    circuit = _by_id(_circuits(emulated, ODD))[names.odd_circuit]
    assert circuit.provider_state == "Suspended"
    assert {p.state for p in circuit.peerings} == {"Paused"}
    judged = health.circuit_health(circuit)
    assert judged.state != "healthy"
    assert "provider state 'Suspended' not known" in judged.reasons
    run(lambda: refresh(emulated, cache, "circuits"))
    cached = _by_id(_cached(emulated, cache, ODD).records)[names.odd_circuit]
    assert health.circuit_health(cached).state != "healthy"


def test_unknown_states_with_healthy_metrics_are_unknown(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="edit",
        route="circuits.list_all",
        set={
            "properties.serviceProviderProvisioningState": "Migrating",
            "properties.circuitProvisioningState": "Throttled",
        },
    )
    run(lambda: refresh(emulated, cache, "circuits"))
    records = list(_cached(emulated, cache, CIRCUITS).records)
    assert records and {c.provider_state for c in records} == {"Migrating"}
    for record in records:
        judged = health.circuit_health(record)
        assert judged.state != "healthy"
        assert "provider state 'Migrating' not known" in judged.reasons
        assert "circuit state 'Throttled' not known" in judged.reasons
    healthy_metrics = [c for c in records if health.circuit_health(c).state == "unknown"]
    assert healthy_metrics  # up devices, unknown states: unknown, never healthy
    finding = health.circuit_finding(healthy_metrics[0])
    assert finding is not None and finding.severity == "info"


def test_arm_error_response_on_the_listing(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="arm_error",
        route="circuits.list_all",
        subscriptions=[CIRCUITS],
        status=404,
        code="SubscriptionNotFound",
        message=f"The subscription '{CIRCUITS}' could not be found.",
    )
    with pytest.raises(AzureError) as caught:
        _circuits(emulated, CIRCUITS)
    assert caught.value.reason == "not-found" and caught.value.code == "SubscriptionNotFound"
    outcomes = {o.key.scope: o for o in run(lambda: refresh(emulated, cache, "circuits"))}
    assert outcomes[CIRCUITS].status == "failed"
    assert outcomes[ODD].status == "fetched"


# --------------------------------------------------------------------------- metrics


def test_no_time_series_means_unknown(emulated: Emulated, names: Variants) -> None:
    circuit = _by_id(_circuits(emulated, CIRCUITS))[names.no_peerings_circuit]
    assert circuit.availability == ()
    assert health.circuit_health(circuit) == health.Health("unknown", ("no metrics",))


def test_points_without_values_mean_unknown(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="edit", route="metrics.list", remove=["timeseries.*.data.*.average"]
    )
    run(lambda: refresh(emulated, cache, "circuits"))
    records = list(_cached(emulated, cache, CIRCUITS).records)
    assert records
    assert any(r.availability for r in records)
    for record in records:
        assert all(a.bgp is None and a.arp is None for a in record.availability)
        expected = "down" if record.provider_state == "NotProvisioned" else "unknown"
        assert health.circuit_health(record).state == expected


def test_a_metric_answered_with_its_own_error_code(emulated: Emulated, cache: Cache) -> None:
    # Metric.errorCode/errorMessage: a 200 whose metric carries an error and no series
    emulated.emulator.add_fault(
        kind="edit",
        route="metrics.list",
        set={
            "errorCode": "ResourceNotFound",
            "errorMessage": "The metric data of this resource could not be found.",
            "timeseries": [],
        },
    )
    run(lambda: refresh(emulated, cache, "circuits"))
    for record in _cached(emulated, cache, CIRCUITS).records:
        assert record.availability == ()
        assert health.circuit_health(record).state != "healthy"


def test_metrics_error_leaves_availability_unknown(emulated: Emulated, cache: Cache) -> None:
    emulated.emulator.add_fault(
        kind="arm_error",
        route="metrics.list",
        status=400,
        code="BadRequest",
        message="Failed to find metric configuration for provider: Microsoft.Network.",
    )
    outcomes = {o.key.scope: o for o in run(lambda: refresh(emulated, cache, "circuits"))}
    assert outcomes[CIRCUITS].status == "fetched"
    for record in _cached(emulated, cache, CIRCUITS).records:
        assert record.availability == ()
        expected = "down" if record.provider_state == "NotProvisioned" else "unknown"
        assert health.circuit_health(record).state == expected
    circuit_id = emulated.emulator.estate.circuits_in(CIRCUITS)[0].id
    with pytest.raises(AzureError) as caught:
        run(
            lambda: with_session(
                emulated, lambda s: circuits.metric_series(s, circuit_id, minutes=5)
            )
        )
    assert caught.value.reason == "request"


# --------------------------------------------------------------------------- stats


def test_stats_without_counters(emulated: Emulated, names: Variants, cache: Cache) -> None:
    circuit = next(
        c
        for c in emulated.emulator.estate.circuits_in(CIRCUITS)
        if c.id == _up_circuit(emulated, names)
    )
    emulated.emulator.add_fault(
        kind="edit", route="circuits.*stats", remove=["primarybytesIn", "secondarybytesOut"]
    )

    async def body(session: Any) -> Any:
        return (
            await circuits.stats(session, circuit.id),
            await circuits.stats(session, circuit.id, circuit.peerings[0].name),
        )

    for stats in run(lambda: with_session(emulated, body)):
        assert stats.primary_bytes_in is None and stats.secondary_bytes_out is None
        assert stats.primary_bytes_out is not None

    async def one(session: Any) -> list[Any]:
        return [await circuits.stats(session, circuit.id)]

    async def detail() -> Any:
        async with engine_for(emulated, cache) as engine:
            return await engine.detail(emulated.profile(PROFILE).name, "stats", circuit.id, one)

    (cached,) = run(detail).records
    assert cached.primary_bytes_in is None and cached.primary_bytes_out is not None


# --------------------------------------------------------------------------- tables

TABLES = {
    "arp": (circuits.arp_table, "circuits.arp_table"),
    "routes": (circuits.route_table, "circuits.route_table"),
    "summary": (circuits.route_summary, "circuits.route_table_summary"),
}


def _table(emulated: Emulated, which: str, circuit_id: str, device: str = "primary") -> Any:
    wrapper = TABLES[which][0]
    return run(
        lambda: with_session(
            emulated, lambda s: wrapper(s, circuit_id, "AzurePrivatePeering", device)
        )
    )


def _table_detail(emulated: Emulated, cache: Cache, which: str, circuit_id: str) -> Any:
    """The table through the engine's on-demand detail path (as the details view does)."""
    wrapper = TABLES[which][0]

    async def body() -> Any:
        async with engine_for(emulated, cache, sleep=no_sleep) as engine:
            return await engine.detail(
                emulated.profile(PROFILE).name,
                which,
                f"{circuit_id}/AzurePrivatePeering/primary",
                lambda s: wrapper(s, circuit_id, "AzurePrivatePeering", "primary"),
                force=True,
            )

    return run(body)


def _up_circuit(emulated: Emulated, names: Variants) -> str:
    for circuit in emulated.emulator.estate.circuits_in(CIRCUITS):
        peering = circuit.peering("AzurePrivatePeering")
        if (
            peering is not None
            and peering.state == "Enabled"
            and peering.primary == "up"
            and peering.routes
            and circuit.id != names.down_device_circuit
        ):
            return circuit.id
    raise AssertionError("no circuit with an up device")


@pytest.mark.parametrize("which", sorted(TABLES))
def test_table_location_polled_until_done(
    emulated: Emulated, names: Variants, cache: Cache, which: str
) -> None:
    circuit_id = _up_circuit(emulated, names)
    plain = _table(emulated, which, circuit_id)
    emulated.emulator.control("DELETE", "stats")
    emulated.emulator.add_fault(
        kind="long_running", route=TABLES[which][1], style="location", polls=3, retry_after_ms=1
    )
    assert _table(emulated, which, circuit_id) == plain and plain
    assert emulated.emulator.route_count("lro.poll") == 3
    assert list(_table_detail(emulated, cache, which, circuit_id).records) == plain


@pytest.mark.parametrize("which", sorted(TABLES))
def test_table_azure_async_operation(
    emulated: Emulated, names: Variants, cache: Cache, which: str
) -> None:
    circuit_id = _up_circuit(emulated, names)
    plain = _table(emulated, which, circuit_id)
    emulated.emulator.control("DELETE", "stats")
    emulated.emulator.add_fault(
        kind="long_running",
        route=TABLES[which][1],
        style="azure-async-operation",
        polls=2,
        retry_after_ms=1,
    )
    assert _table(emulated, which, circuit_id) == plain and plain
    assert emulated.emulator.route_count("lro.status") >= 2
    assert emulated.emulator.route_count("lro.poll") >= 1  # the final GET of the Location
    assert list(_table_detail(emulated, cache, which, circuit_id).records) == plain


@pytest.mark.parametrize("which", sorted(TABLES))
def test_table_answered_at_once(
    emulated: Emulated, names: Variants, cache: Cache, which: str
) -> None:
    circuit_id = _up_circuit(emulated, names)
    plain = _table(emulated, which, circuit_id)
    emulated.emulator.control("DELETE", "stats")
    emulated.emulator.add_fault(kind="long_running", route=TABLES[which][1], style="sync")
    assert _table(emulated, which, circuit_id) == plain and plain
    stats = emulated.emulator.stats()
    assert stats["by_route_status"][TABLES[which][1]] == {"200": 1}
    assert "lro.poll" not in stats["by_route"]
    assert list(_table_detail(emulated, cache, which, circuit_id).records) == plain


@pytest.mark.parametrize("outcome", ["failed", "canceled"])
def test_table_operation_that_fails_on_its_monitor(
    emulated: Emulated, names: Variants, cache: Cache, outcome: str
) -> None:
    circuit_id = _up_circuit(emulated, names)
    emulated.emulator.add_fault(
        kind="long_running",
        route="circuits.arp_table",
        retry_after_ms=1,
        style="azure-async-operation",
        outcome=outcome,
        error_code="RouterUnreachable",
        error_message="The device did not answer.",
    )
    with pytest.raises(AzureError) as caught:
        _table(emulated, "arp", circuit_id)
    message = str(caught.value)
    assert f"the operation ended {outcome.capitalize()}" in message
    assert "RouterUnreachable: The device did not answer." in message
    assert caught.value.code == "RouterUnreachable"
    entry = _detail(emulated, cache, circuit_id)
    assert entry.records == () and "RouterUnreachable" in (entry.error or "")


def test_table_operation_that_fails_on_its_location(
    emulated: Emulated, names: Variants, cache: Cache
) -> None:
    circuit_id = _up_circuit(emulated, names)
    emulated.emulator.add_fault(
        kind="long_running",
        route="circuits.arp_table",
        retry_after_ms=1,
        outcome="failed",
        error_status=503,
        error_code="ServiceUnavailable",
        error_message="Try again later.",
    )
    with pytest.raises(UnavailableError) as caught:
        _table(emulated, "arp", circuit_id)
    assert caught.value.status == 503 and "Try again later." in str(caught.value)
    entry = _detail(emulated, cache, circuit_id)
    assert "Try again later." in (entry.error or "")


def _detail(emulated: Emulated, cache: Cache, circuit_id: str) -> Any:
    async def body() -> Any:
        async with engine_for(emulated, cache, sleep=no_sleep) as engine:
            return await engine.detail(
                emulated.profile(PROFILE).name,
                "arp",
                f"{circuit_id}/AzurePrivatePeering/primary",
                lambda s: circuits.arp_table(s, circuit_id, "AzurePrivatePeering", "primary"),
            )

    return run(body)


def test_empty_tables_while_a_device_is_down(emulated: Emulated, names: Variants) -> None:
    circuit_id = names.down_device_circuit
    assert _table(emulated, "routes", circuit_id, "primary") == []
    assert _table(emulated, "routes", circuit_id, "secondary")
    arp = _table(emulated, "arp", circuit_id, "primary")
    assert [a.interface for a in arp] == ["Microsoft"]  # no On-Prem entry
    summary = _table(emulated, "summary", circuit_id, "primary")
    assert [s.state_or_prefixes for s in summary] == ["Active"]


def test_an_empty_table_through_the_engine(
    emulated: Emulated, names: Variants, cache: Cache
) -> None:
    circuit_id = names.down_device_circuit

    async def body() -> Any:
        async with engine_for(emulated, cache) as engine:
            return await engine.detail(
                emulated.profile(PROFILE).name,
                "routes",
                f"{circuit_id}/AzurePrivatePeering/primary",
                lambda s: circuits.route_table(s, circuit_id, "AzurePrivatePeering", "primary"),
            )

    entry = run(body)
    assert entry.records == () and entry.error is None and entry.fetched_at is not None


def test_table_rows_without_optional_columns(emulated: Emulated, names: Variants) -> None:
    circuit_id = _up_circuit(emulated, names)
    emulated.emulator.add_fault(
        kind="edit",
        route="lro.poll",
        remove=[
            "age",
            "interface",
            "nextHop",
            "path",
            "weight",
            "locPrf",
            "as",
            "upDown",
            "statePfxRcd",
            "v",
        ],
    )
    arp = _table(emulated, "arp", circuit_id)
    assert arp and all(a.age is None and a.interface is None and a.ip_address for a in arp)
    routes = _table(emulated, "routes", circuit_id)
    assert routes and all(r.next_hop is None and r.weight is None and r.network for r in routes)
    summary = _table(emulated, "summary", circuit_id)
    assert summary and all(s.asn is None and s.state_or_prefixes is None for s in summary)


def test_stats_error_response(emulated: Emulated, names: Variants) -> None:
    circuit_id = _up_circuit(emulated, names)
    emulated.emulator.add_fault(
        kind="arm_error", route="circuits.stats", status=404, code="NotFound", target="stats"
    )
    with pytest.raises(AzureError) as caught:
        run(lambda: with_session(emulated, lambda s: circuits.stats(s, circuit_id)))
    assert caught.value.reason == "not-found" and caught.value.code == "NotFound"


def test_table_post_error_response(emulated: Emulated, names: Variants) -> None:
    circuit_id = _up_circuit(emulated, names)
    emulated.emulator.add_fault(
        kind="arm_error",
        route="circuits.route_table",
        status=400,
        code="InvalidDevicePath",
        message="Device path 'tertiary' is not valid.",
    )
    with pytest.raises(AzureError) as caught:
        _table(emulated, "routes", circuit_id)
    assert caught.value.reason == "request" and "not valid" in str(caught.value)
