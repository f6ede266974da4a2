"""The Azure wrappers through the real async SDK clients, over HTTPS, on the emulator."""

from __future__ import annotations

from typing import Any

import pytest

from btconsole.azure import arc, circuits, graph, policy, spend, subscriptions
from btconsole.azure.common import iso, rest_dict
from btconsole.azure.errors import (
    BadResponseError,
    ForbiddenError,
    ThrottledError,
    UnavailableError,
)
from btconsole.records import ArcRecord, CircuitRecord
from tests.azure.conftest import Emulated, run


async def _with_session(emulated: Emulated, body: Any, **kwargs: Any) -> Any:
    async with emulated.session(**kwargs) as session:
        return await body(session)


def test_subscriptions_match_the_estate(fresh: Emulated) -> None:
    estate = fresh.emulator.estate
    customer = estate.customers[0]
    found = run(lambda: _with_session(fresh, subscriptions.list_subscriptions))
    assert [r.subscription_id for r in found] == sorted(
        s.lower() for s in customer.subscription_ids
    )
    assert all(r.profile == customer.slug for r in found)
    assert all(r.display_name for r in found)


def _subs(emulated: Emulated) -> list[str]:
    return sorted(s.lower() for s in emulated.emulator.estate.customers[0].subscription_ids)


def test_arc_records(fresh: Emulated) -> None:
    sub = _subs(fresh)[0]
    records: list[ArcRecord] = run(lambda: _with_session(fresh, lambda s: arc.list_arc(s, sub)))
    estate = fresh.emulator.estate
    expected_machines = {m.name for m in estate.machines_in(sub)}
    expected_clusters = {c.name for c in estate.clusters_in(sub)}
    assert {r.name for r in records if r.kind == "machine"} == expected_machines
    assert {r.name for r in records if r.kind == "cluster"} == expected_clusters
    assert all(r.subscription_id == sub for r in records)
    machines = [r for r in records if r.kind == "machine"]
    assert all(r.agent_version and r.status for r in machines)
    errors = [r for r in machines if r.status == "Error"]
    assert all(r.error_codes for r in errors)


def test_arc_paging_with_small_pages(fresh: Emulated) -> None:
    sub = _subs(fresh)[0]
    fresh.emulator.set_settings(page_size=3)
    records = run(lambda: _with_session(fresh, lambda s: arc.list_arc(s, sub)))
    estate = fresh.emulator.estate
    assert len(records) == len(list(estate.machines_in(sub))) + len(list(estate.clusters_in(sub)))


def test_circuits_and_budgets_follow_next_links(fresh: Emulated) -> None:
    index, sub = _circuit_customer(fresh)

    async def body(session: Any) -> Any:
        found = await circuits.list_circuits(session, sub, with_availability=False)
        return found, await spend.budgets(session, sub)

    whole = run(lambda: _with_session(fresh, body, profile=fresh.profile(index)))
    fresh.emulator.set_settings(page_size=1)
    paged = run(lambda: _with_session(fresh, body, profile=fresh.profile(index)))
    estate = fresh.emulator.estate
    assert len(whole[0]) == len(list(estate.circuits_in(sub))) > 1
    assert len(whole[1]) == len(list(estate.budgets_in(sub))) >= 1
    assert paged == whole


def test_machine_extensions(fresh: Emulated) -> None:
    sub = _subs(fresh)[0]

    async def body(session: Any) -> Any:
        machines = [r for r in await arc.list_arc(session, sub) if r.kind == "machine"]
        return await arc.machine_extensions(session, machines[0].id)

    extensions = run(lambda: _with_session(fresh, body))
    assert extensions and all(e.name for e in extensions)


def _circuit_customer(emulated: Emulated) -> tuple[int, str]:
    """(profile index, subscription) of the first customer with circuits."""
    estate = emulated.emulator.estate
    for index, customer in enumerate(estate.customers):
        for sub in sorted(s.lower() for s in customer.subscription_ids):
            if list(estate.circuits_in(sub)):
                return index, sub
    raise AssertionError("the small estate has no circuits")


def test_circuits_with_availability_and_details(fresh: Emulated) -> None:
    index, sub = _circuit_customer(fresh)

    async def body(session: Any) -> Any:
        found: list[CircuitRecord] = await circuits.list_circuits(session, sub)
        first = next(c for c in found if any(a.bgp for a in c.availability) and c.peerings)
        arp, summary, routes = [], [], []
        for peering in first.peerings:
            for device in circuits.DEVICES:
                arp += await circuits.arp_table(session, first.id, peering.name, device)
                summary += await circuits.route_summary(session, first.id, peering.name, device)
                routes += await circuits.route_table(session, first.id, peering.name, device)
        details = (
            arp,
            summary,
            routes,
            await circuits.stats(session, first.id),
            await circuits.stats(session, first.id, first.peerings[0].name),
            await circuits.metric_series(session, first.id, minutes=10),
        )
        return found, details

    found, (arp, summary, routes, stats, peering_stats, series) = run(
        lambda: _with_session(fresh, body, profile=fresh.profile(index))
    )
    assert all(c.provider == "British Telecom" for c in found)
    assert {a.device for c in found for a in c.availability} <= {"primary", "secondary"}
    assert arp and all(a.ip_address and a.mac_address for a in arp)
    assert summary and all(s.neighbor for s in summary)
    assert routes and all(r.network for r in routes)
    assert stats.primary_bytes_in is not None and peering_stats.peering is not None
    assert {p.metric for p in series} == {
        "BitsInPerSecond",
        "BitsOutPerSecond",
        "BgpAvailability",
        "ArpAvailability",
    }
    # the long-running operations really went through 202 + polling of the Location
    routes_seen = fresh.emulator.stats()["by_route"]
    assert any("lro" in name.lower() for name in routes_seen), routes_seen


def test_policy_summary_and_drill_down(fresh: Emulated) -> None:
    sub = _subs(fresh)[0]

    async def body(session: Any) -> Any:
        compliance, assignments = await policy.summarize(session, sub)
        worst = assignments[0]
        states = await policy.non_compliant(session, sub, worst.assignment_id)
        await policy.trigger_evaluation(session, sub)
        return compliance, assignments, states

    compliance, assignments, states = run(lambda: _with_session(fresh, body))
    assert compliance.total_resources == compliance.compliant_resources + (
        compliance.total_resources - compliance.compliant_resources
    )
    assert compliance.total_resources > 0
    worst = assignments[0]
    assert assignments == sorted(
        assignments, key=lambda a: (-a.non_compliant_resources, a.assignment_id)
    )
    assert len({s.resource_id.lower() for s in states}) == worst.non_compliant_resources
    assert all(s.compliance_state == "NonCompliant" for s in states)
    assert all(s.assignment_id == worst.assignment_id for s in states)


def test_policy_and_metrics_json_give_the_records_of_the_sdk_models(fresh: Emulated) -> None:
    """summarize and availability read REST JSON; the SDK's models must agree with them."""
    from datetime import datetime, timedelta, timezone

    index, sub = _circuit_customer(fresh)
    profile = fresh.profile(index)
    now = datetime.now(timezone.utc)
    timespan = f"{iso(now - timedelta(minutes=15))}/{iso(now)}"  # as availability asks

    async def body(session: Any) -> Any:
        monitor = session.client("monitor", sub)
        insights = session.client("policyinsights", sub)
        pairs = []
        for circuit in await circuits.list_circuits(session, sub, with_availability=False):
            ours = await circuits.availability(session, circuit.id, now=now)
            model = await monitor.metrics.list(
                circuit.id,
                timespan=timespan,
                interval="PT1M",
                metricnames=",".join(circuits.AVAILABILITY_METRICS),
                aggregation="Average",
                filter="PeeringType eq '*' and Peer eq '*'",
            )
            pairs.append((ours, circuits.latest_availability(rest_dict(model))))
        summary = await policy.summarize(session, sub)
        model = await insights.policy_states.summarize_for_subscription("latest", sub)
        return pairs, summary, policy.summary_records(profile.name, sub, rest_dict(model))

    pairs, summary, from_model = run(lambda: _with_session(fresh, body, profile=profile))
    assert pairs and any(ours for ours, _ in pairs)
    for ours, theirs in pairs:
        assert ours == theirs
    assert summary == from_model
    assert summary[0].total_resources > 0 and summary[1]


@pytest.mark.parametrize(
    ("kind", "error"),
    [("forbidden", ForbiddenError), ("throttle", ThrottledError), ("malformed", BadResponseError)],
)
@pytest.mark.parametrize("wrapper", ["summarize", "availability"])
def test_json_wrappers_map_errors_as_the_sdk_did(
    fresh: Emulated, kind: str, error: type[Exception], wrapper: str
) -> None:
    index, sub = _circuit_customer(fresh)
    circuit_id = next(iter(fresh.emulator.estate.circuits_in(sub))).id

    async def body(session: Any) -> Any:
        if wrapper == "summarize":
            return await policy.summarize(session, sub)
        return await circuits.availability(session, circuit_id)

    extra = {"retry_after": 3} if kind == "throttle" else {}
    fresh.emulator.add_fault(kind=kind, subscriptions=[sub], **extra)
    with pytest.raises(error) as info:
        run(lambda: _with_session(fresh, body, profile=fresh.profile(index)))
    if kind == "throttle":
        assert getattr(info.value, "retry_after", None) == 3


def test_spend(fresh: Emulated) -> None:
    sub = _subs(fresh)[0]
    today = fresh.emulator.estate.as_of
    fresh.emulator.set_settings(page_size=50)  # forces Cost Management nextLink paging

    async def body(session: Any) -> Any:
        return (
            await spend.daily_costs(session, sub, today),
            await spend.month_forecast(session, sub, today),
            await spend.budgets(session, sub),
        )

    costs, forecasts, budgets = run(lambda: _with_session(fresh, body))
    (forecast,) = forecasts  # one answer, one currency
    assert forecast.currency == costs[0].currency
    assert len({c.date for c in costs}) == 60
    assert max(c.date for c in costs) == today.isoformat()
    assert len(costs) > 50
    assert len({c.currency for c in costs}) == 1
    month = [c.amount for c in costs if c.date.startswith(today.strftime("%Y-%m"))]
    assert forecast.actual == pytest.approx(sum(month), rel=1e-6, abs=0.05)
    assert forecast.forecast >= forecast.actual
    assert all(b.amount > 0 for b in budgets)


def test_graph_and_per_subscription_paths_give_identical_records(fresh: Emulated) -> None:
    subs = _subs(fresh)
    fresh.emulator.set_settings(page_size=7)

    async def body(session: Any) -> Any:
        per_sub_arc = {s: await arc.list_arc(session, s) for s in subs}
        per_sub_circuits = {
            s: await circuits.list_circuits(session, s, with_availability=False) for s in subs
        }
        per_sub_policy = {s: await policy.summarize(session, s) for s in subs}
        return (
            per_sub_arc,
            per_sub_circuits,
            per_sub_policy,
            await graph.list_arc(session, subs),
            await graph.list_circuits(session, subs),
            await graph.policy_summaries(session, subs),
        )

    sub_arc, sub_circuits, sub_policy, g_arc, g_circuits, g_policy = run(
        lambda: _with_session(fresh, body)
    )
    assert g_arc == sub_arc
    assert g_circuits == sub_circuits
    assert g_policy == {s: (c, a) for s, (c, a) in sub_policy.items()}


def test_graph_batches_below_300() -> None:
    subs = [f"{i:08d}-0000-0000-0000-000000000000" for i in range(650)]
    sizes = [len(b) for b in graph.batches(subs)]
    assert sizes == [250, 250, 150]


def test_forbidden_subscription_maps_to_forbidden_error(fresh: Emulated) -> None:
    sub = _subs(fresh)[0]
    fresh.emulator.add_fault(kind="forbidden", subscriptions=[sub])
    with pytest.raises(ForbiddenError, match="AuthorizationFailed"):
        run(lambda: _with_session(fresh, lambda s: arc.list_arc(s, sub)))


def test_throttle_maps_with_retry_after(fresh: Emulated) -> None:
    sub = _subs(fresh)[0]
    fresh.emulator.add_fault(kind="throttle", retry_after=7, subscriptions=[sub])
    with pytest.raises(ThrottledError) as info:
        run(lambda: _with_session(fresh, lambda s: arc.list_arc(s, sub)))
    assert info.value.retry_after == 7


def test_cost_management_throttle_reads_its_own_headers(fresh: Emulated) -> None:
    sub = _subs(fresh)[0]
    today = fresh.emulator.estate.as_of
    fresh.emulator.add_fault(kind="costmanagement_throttle", retry_after=11)
    with pytest.raises(ThrottledError) as info:
        run(lambda: _with_session(fresh, lambda s: spend.daily_costs(s, sub, today)))
    assert info.value.retry_after == 11


def test_server_errors_map_to_unavailable(fresh: Emulated) -> None:
    sub = _subs(fresh)[0]
    fresh.emulator.add_fault(kind="server_error", status=503, subscriptions=[sub])
    with pytest.raises(UnavailableError):
        run(lambda: _with_session(fresh, lambda s: arc.list_arc(s, sub)))


def test_profiles_share_one_connection_pool_per_host_and_ca_bundle(fresh: Emulated) -> None:
    from dataclasses import replace

    from btconsole.azure.errors import AzureError
    from btconsole.azure.session import ConnectionPools
    from btconsole.credentials import build_credential

    first, second = fresh.profile(0), fresh.profile(1)
    # the same host, but trusting only the system's CA store: not the emulator's CA
    untrusted = replace(first, cloud=replace(first.cloud, ca_bundle=None))

    async def body() -> tuple[list[Any], int, bool, str]:
        pools = ConnectionPools(max_connections=4)
        try:
            found = []
            for profile in (first, second):
                async with fresh.session(profile, pools=pools) as session:
                    found.append(await subscriptions.list_subscriptions(session))
            # closing the sessions left the shared pool open, and both used one
            shared = pools.transport(first).session
            still_open = not shared.closed
            credential = build_credential(first, fresh.config, aio=True, environ=fresh.environ)
            failure = ""
            try:
                async with fresh.session(untrusted, pools=pools, credential=credential) as s:
                    await subscriptions.list_subscriptions(s)
            except AzureError as error:
                failure = str(error)
            finally:
                await credential.close()
            return found, len(pools), still_open, failure
        finally:
            await pools.close()

    found, pools_made, still_open, failure = run(body)
    estate = fresh.emulator.estate
    for records, customer in zip(found, estate.customers[:2], strict=True):
        assert [r.subscription_id for r in records] == sorted(
            s.lower() for s in customer.subscription_ids
        )
    assert still_open
    # a profile trusting another CA gets its own pool, and verification stays on there
    assert pools_made == 2
    assert "certificate" in failure.lower()
