"""An estate whose Cost Management answers are the hard ones (issue 11, point 4).

Built from the healthy two-customer estate of tests/checks/conftest.py:

- ``contoso-retail`` bills in JPY (a currency beyond GBP/EUR/USD) and one of its
  daily costs is ``1e308`` (so its forecast and its budget's spend are absurd too);
- ``fabrikam-logistics`` bills in EUR while its profile's fallback ``currency`` says
  GBP; its first subscription has no usage at all (Cost Management answers ``204``),
  its second has a refund (a day of Storage nets to ``REFUND``) and a service whose
  name carries terminal control characters and a bidi override (:data:`EVIL_SERVICE`);
- the first machine's status and OS name carry the same (for the Arc export).
"""

from __future__ import annotations

import datetime as dt

from btconsole.emulator.estate import Estate
from btconsole.emulator.generate import generate

ABSURD = 1e308
REFUND = -500.0
#: A service name that would clear the screen, ring, write the clipboard (OSC 52) and
#: reverse the text after it, were it passed raw to a terminal.
EVIL_SERVICE = "Azure\x1b[2J Arc\x07\x00\x1b]52;c;ZXZpbA==\x07\u202e\u2066cra"
FALLBACK = "GBP"


def spend_estate() -> Estate:
    estate = generate(
        seed=1,
        size="small",
        healthy=True,
        customers=2,
        subscriptions=3,
        machines=12,
        clusters=2,
        circuits=2,
        policy_states=60,
    )
    contoso, fabrikam = estate.customers
    contoso.currency = "JPY"
    fabrikam.currency = "EUR"
    days = estate.cost_dates()
    yesterday = days.index(estate.as_of - dt.timedelta(days=1))
    refund_day = days.index(estate.as_of - dt.timedelta(days=3))
    empty, refunded = sorted(fabrikam.subscription_ids)
    (contoso_sub,) = contoso.subscription_ids
    estate.costs = [s for s in estate.costs if s.subscription_id != empty]
    for series in estate.costs:
        if series.subscription_id == contoso_sub and series.service_name == "Backup":
            series.daily[yesterday] = ABSURD
        if series.subscription_id == refunded and series.service_name == "Storage":
            series.daily[refund_day] = REFUND
        if series.subscription_id == refunded and series.service_name == "Azure Arc":
            series.service_name = EVIL_SERVICE
    machine = estate.machines[0]
    machine.status = EVIL_SERVICE
    machine.os_sku = "\x1b]8;;https://e.example\x07link\x1b]8;;\x07\u202e"
    for cached in ("_indexes", "memo"):  # lookups indexed while generating
        estate.__dict__.pop(cached, None)
    return estate


def no_usage_subscription(estate: Estate) -> str:
    return sorted(estate.customers[1].subscription_ids)[0]


def refunded_subscription(estate: Estate) -> str:
    return sorted(estate.customers[1].subscription_ids)[1]


def absurd_subscription(estate: Estate) -> str:
    return estate.customers[0].subscription_ids[0]


def use_fallback_currency(config_text: str, slug: str) -> str:
    """The config text with ``slug``'s profile currency set to :data:`FALLBACK`."""
    out, inside = [], False
    for line in config_text.splitlines():
        if line.startswith("["):
            inside = line.strip() == f'[profiles."{slug}"]' or line.strip() == f"[profiles.{slug}]"
        if inside and line.startswith("currency = "):
            line = f'currency = "{FALLBACK}"'
        out.append(line)
    return "\n".join(out) + "\n"
