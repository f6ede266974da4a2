"""The spend wrappers at a partner billing account's customer scope, through the real
SDK client over HTTPS against the emulator, as the Lighthouse provider signs in:
the one query and the one forecast of a customer agree with its subscriptions' own
answers, and the ``SubscriptionId`` filter narrows both to the subscriptions asked."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from btconsole.azure import spend
from btconsole.config import Config, load_config
from btconsole.emulator.estate import Estate
from btconsole.emulator.generate import generate
from btconsole.emulator.serve import secret_environment, write_config
from btconsole.emulator.server import RunningEmulator, running_emulator
from btconsole.records import CostRecord, ForecastRecord
from tests.azure.conftest import run


@pytest.fixture(scope="module")
def provider(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningEmulator, Config]]:
    estate = generate(seed=1, size="small")
    with running_emulator(estate) as emulator:
        path = tmp_path_factory.mktemp("cfg") / "lighthouse.toml"
        write_config(path, estate, emulator.base_url, Path(emulator.ca_path), lighthouse=True)
        yield emulator, load_config(path)


def _session(emulator: RunningEmulator, config: Config) -> Any:
    from btconsole.azure.session import AzureSession

    (msp,) = config.lighthouse.values()
    environ = secret_environment(emulator.estate, lighthouse=True)
    return AzureSession(msp.credential_profile(), config, environ=environ)


def _billed(estate: Estate) -> tuple[str, list[str]]:
    """The scope and subscriptions of the billed customer with the most subscriptions."""
    (account,) = estate.billing_accounts
    best = max(
        account.customers,
        key=lambda c: len(estate.customer_for_tenant(c.tenant_id).subscription_ids),  # type: ignore[union-attr]
    )
    owner = estate.customer_for_tenant(best.tenant_id)
    assert owner is not None and len(owner.subscription_ids) > 1
    return spend.billing_customer_scope(account.name, best.customer_id), list(
        owner.subscription_ids
    )


def _by_day_service(records: list[Any]) -> dict[tuple[str, str, str], float]:
    sums: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in records:
        if isinstance(r, CostRecord):
            sums[(r.date, r.service, r.currency)].append(r.amount)
    return {k: math.fsum(v) for k, v in sums.items()}


def test_one_query_per_customer_splits_into_its_subscriptions(
    provider: tuple[RunningEmulator, Config],
) -> None:
    emulator, config = provider
    emulator.reset()
    today = emulator.estate.as_of
    scope, subs = _billed(emulator.estate)

    async def read() -> tuple[dict[str, list[Any]], dict[str, list[Any]], list[Any], list[Any]]:
        async with _session(emulator, config) as session:
            at_customer = await spend.customer_daily_costs(session, scope, subs, today)
            own = {sub: await spend.daily_costs(session, sub, today) for sub in subs}
            forecast = await spend.customer_month_forecast(session, scope, subs, today)
            theirs = [r for sub in subs for r in await spend.month_forecast(session, sub, today)]
            return at_customer, own, forecast, theirs

    at_customer, own, forecast, theirs = run(read)
    assert sorted(at_customer) == sorted(subs)
    for sub in subs:
        assert at_customer[sub], sub  # the estate has spend in each
        assert {r.resource_group for r in at_customer[sub]} == {spend.UNKNOWN_GROUP}
        assert {r.subscription_id for r in at_customer[sub]} == {sub}
        mine, per_sub = _by_day_service(at_customer[sub]), _by_day_service(own[sub])
        assert sorted(mine) == sorted(per_sub)
        for key, amount in per_sub.items():
            assert mine[key] == pytest.approx(amount, abs=1e-5), (sub, key)
    (customer,) = forecast
    assert isinstance(customer, ForecastRecord) and customer.subscription_id == ""
    per_sub_forecasts = [f for f in theirs if isinstance(f, ForecastRecord)]
    assert len(per_sub_forecasts) == len(subs)
    assert {f.currency for f in per_sub_forecasts} == {customer.currency}
    total = math.fsum(f.forecast for f in per_sub_forecasts)
    assert abs(customer.forecast - total) <= 0.005 * len(subs) + 1e-9
    stats = emulator.stats()["by_route"]
    assert stats["costs.forecast_billing_customer"] == 1


def test_the_filter_narrows_to_the_subscriptions_asked(
    provider: tuple[RunningEmulator, Config],
) -> None:
    emulator, config = provider
    emulator.reset()
    today = emulator.estate.as_of
    scope, subs = _billed(emulator.estate)
    one = subs[:1]

    async def read() -> tuple[dict[str, list[Any]], list[Any], list[Any]]:
        async with _session(emulator, config) as session:
            return (
                await spend.customer_daily_costs(session, scope, one, today),
                await spend.customer_month_forecast(session, scope, one, today),
                await spend.month_forecast(session, one[0], today),
            )

    costs, forecast, own = run(read)
    assert list(costs) == one
    (customer,) = forecast
    (mine,) = own
    assert customer.forecast == pytest.approx(mine.forecast, abs=0.01)
