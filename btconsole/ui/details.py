"""Details of one row: all its properties, and on-demand data fetched through the engine.

- Arc: properties, tags, errors, extensions.
- Circuits: peerings and availability; on demand ARP tables, route-table summaries
  (per device, primary/secondary), stats, and recent traffic/availability sparklines.
- Policy: the non-compliant resources of an assignment; the evaluation action.
- Spend: by service and resource group, daily trend, budget and forecast.

All text from Azure is shown literally (Rich ``Text``, cleaned of control characters).
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Label, Sparkline, Static

from btconsole import health
from btconsole.records import (
    AlertRecord,
    ArcRecord,
    BudgetRecord,
    CircuitRecord,
    ComplianceRecord,
    CostRecord,
    ForecastRecord,
    PolicyAssignmentRecord,
    ResourceHealthRecord,
)
from btconsole.ui import render
from btconsole.ui.links import CopiedBar, azure_id_of
from btconsole.ui.table import Column, Level, ResourceTable, Row
from btconsole.ui.textsafe import clean
from btconsole.ui.widgets import TitleBar

if TYPE_CHECKING:
    from btconsole.ui.app import BtConsoleApp


def properties_text(
    pairs: Sequence[tuple[str, str]], width: int = 22, columns: int | None = None
) -> Text:
    """Name and value per line; within ``columns`` cells a long value wraps under
    itself, not under the names (the names column stays readable at 80x24)."""
    text = Text()
    room = None if columns is None else max(16, columns - width)
    for name, value in pairs:
        text.append(f"{name:<{width - 1}} ", style="bold")  # a long name still gets a space
        if room is None or cell_len(value) <= room:
            text.append(value)
        else:
            lines = Text(value).wrap(_wrap_console(), room)
            for i, line in enumerate(lines):
                if i:
                    text.append("\n" + " " * width)
                text.append_text(line)
        text.append("\n")
    return text


_CONSOLE: list[Console] = []


def _wrap_console() -> Console:
    """A console for measuring and wrapping text only (it writes nowhere)."""
    if not _CONSOLE:
        _CONSOLE.append(Console(file=io.StringIO(), width=1000, color_system=None))
    return _CONSOLE[0]


class PropertiesText(Static):
    """A record's properties, wrapped to the width it is given (see
    :func:`properties_text`)."""

    def __init__(self, pairs: Sequence[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pairs = list(pairs)

    def render(self) -> Text:
        return properties_text(self._pairs, columns=self.content_size.width or None)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if not width:
            return 0
        return len(properties_text(self._pairs, columns=width).plain.splitlines())

    def on_resize(self) -> None:
        self.refresh(layout=True)


class DetailsScreen(Screen[None]):
    """A record's properties on top, a table of related rows below."""

    TITLE_TEXT = "Details"
    ROW_COUNTS = True  # the title counts the rows of the table below
    DETAIL_COLUMNS: ClassVar[tuple[Column, ...]] = (Column("value", "VALUE", 40),)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="details.back"),
        Binding("r", "refresh_detail", "Refresh", id="details.refresh"),
        Binding("y", "copy_id", "Copy this resource's ID (OSC 52)", id="details.copy"),
        Binding("o", "portal_link", "Copy and show its portal link", id="details.portal"),
    ]

    DEFAULT_CSS = """
    DetailsScreen #props { height: auto; max-height: 50%; padding: 0 1; }
    DetailsScreen #detail { height: 1fr; border-top: solid $primary; }
    DetailsScreen #hint { dock: bottom; height: 1; background: $panel; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis; }
    DetailsScreen Sparkline { height: 2; margin: 0 1; }
    """

    def __init__(self, record: Any) -> None:
        super().__init__()
        self.record = record

    @property
    def bt(self) -> BtConsoleApp:
        from btconsole.ui.app import BtConsoleApp

        assert isinstance(self.app, BtConsoleApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield TitleBar(id="title")
        with VerticalScroll(id="props"):
            yield PropertiesText(self.properties(), id="props-text")
            yield from self.extra()
        yield ResourceTable(self.DETAIL_COLUMNS, id="detail")
        yield Static(Text(self.hint(), style="dim"), id="hint")

    def on_mount(self) -> None:
        counts = 0 if self.ROW_COUNTS else None
        self.query_one(TitleBar).show(self.TITLE_TEXT, self.subject(), counts, 0, "")
        self.query_one("#detail", ResourceTable).focus()
        self.load(force=False)

    def properties(self) -> list[tuple[str, str]]:
        return render.details_lines(self.record)

    def extra(self) -> ComposeResult:
        yield from ()

    def subject(self) -> str:
        return clean(getattr(self.record, "name", "") or "")

    def hint(self) -> str:
        k = self.bt.key_hint
        return (
            f"{k('details.back', 'escape')} back · {k('details.refresh', 'r')} refresh · "
            f"{k('details.copy', 'y')} copy ID · {k('details.portal', 'o')} portal link"
        )

    def resource(self) -> tuple[str | None, str | None]:
        """(profile, Azure resource ID) of what the screen is about."""
        profile = getattr(self.record, "profile", None)
        return (profile if isinstance(profile, str) else None), azure_id_of(self.record)

    def copied_bar(self) -> CopiedBar:
        """One line above the hint: what y / o copied."""
        try:
            return self.query_one(CopiedBar)
        except NoMatches:
            bar = CopiedBar(id="copied")
            self.mount(bar, before="#hint")
            return bar

    def action_copy_id(self) -> None:
        _profile, resource_id = self.resource()
        if resource_id is None:
            self.notify("no Azure resource here", severity="warning")
            return
        self.app.copy_to_clipboard(resource_id)
        self.copied_bar().show("ID", resource_id, row_key=None)

    def action_portal_link(self) -> None:
        profile, resource_id = self.resource()
        if resource_id is None:
            self.notify("no Azure resource here", severity="warning")
            return
        url = self.bt.portal_url(profile, resource_id)
        self.app.copy_to_clipboard(url)
        self.copied_bar().show("portal link", url, row_key=None, link=url)

    def load(self, *, force: bool) -> None:
        """Fill the detail table (from data already at hand, or fetched)."""

    def action_refresh_detail(self) -> None:
        self.load(force=True)

    def show_rows(self, rows: list[Row], columns: Sequence[Column] | None = None) -> None:
        table = self.query_one("#detail", ResourceTable)
        if columns is not None:
            table.set_columns(columns)
        table.set_rows(rows)
        self.query_one(TitleBar).show(
            self.TITLE_TEXT, self.subject(), table.filtered_count, table.total_count, ""
        )

    @work(exclusive=True, group="detail")
    async def fetch(
        self,
        domain: str,
        scope: str,
        fetch: Callable[[Any], Awaitable[Sequence[Any]]],
        to_rows: Callable[[Sequence[Any]], tuple[list[Row], Sequence[Column]]],
        force: bool,
    ) -> None:
        """Show cached detail rows at once, then refresh them through the engine."""
        profile = getattr(self.record, "profile", "")
        from btconsole.cache import CacheKey

        cached = self.bt.data.detail(CacheKey(profile, domain, scope))
        if cached is not None and cached.records:
            rows, columns = to_rows(cached.records)
            self.show_rows(rows, columns)
        self.notify("fetching…", timeout=2)
        entry = await self.bt.data.refresh_detail(profile, domain, scope, fetch, force=force)
        if entry is None:
            return
        rows, columns = to_rows(entry.records)
        self.show_rows(rows, columns)
        if entry.error:
            self.notify(clean(entry.error), title="Refresh failed", severity="error", markup=False)


# --------------------------------------------------------------------------- Arc

EXTENSION_COLUMNS = (
    Column("name", "EXTENSION", 28, 10, priority=0),
    Column("publisher", "PUBLISHER", 28, 8),
    Column("version", "VERSION", 10, 6),
    Column("state", "STATE", 12, 6, priority=0),
    Column("status", "STATUS", 30, 8, priority=2),
)


# what the on-call engineer reads first: the state and why, above the inventory
ARC_FIRST = ("name", "status", "error codes", "error messages", "last status change")


class ArcDetails(DetailsScreen):
    TITLE_TEXT = "Arc"
    DETAIL_COLUMNS = EXTENSION_COLUMNS

    def properties(self) -> list[tuple[str, str]]:
        """The record's fields, the status and its error code and message first (an
        80x24 terminal shows them without scrolling)."""
        record: ArcRecord = self.record
        since = render.since_seconds(record.last_status_change, self.bt.now())
        pairs = [
            (name, f"{render.age_text(since)} ago ({value})")
            if name == "last status change" and since is not None
            else (name, value)
            for name, value in super().properties()
        ]
        rank = {name: position for position, name in enumerate(ARC_FIRST)}
        return sorted(pairs, key=lambda pair: rank.get(pair[0], len(rank)))

    def load(self, *, force: bool) -> None:
        record: ArcRecord = self.record
        if record.kind != "machine":
            return

        async def fetch(session: Any) -> Sequence[Any]:
            from btconsole.azure.arc import machine_extensions

            return await machine_extensions(session, record.id)

        def to_rows(records: Sequence[Any]) -> tuple[list[Row], Sequence[Column]]:
            rows = [
                Row(
                    key=r.name,
                    cells=(
                        clean(r.name),
                        clean(r.publisher or "-"),
                        clean(r.version or "-"),
                        clean(r.provisioning_state or "-"),
                        clean(r.status or "-"),
                    ),
                    level="ok" if (r.provisioning_state or "") == "Succeeded" else "warning",
                    payload=r,
                )
                for r in records
            ]
            return rows, EXTENSION_COLUMNS

        self.fetch("arc-extensions", record.id, fetch, to_rows, force)


# --------------------------------------------------------------------------- circuits

ARP_COLUMNS = (
    Column("peering", "PEERING", 20, 8),
    Column("device", "DEVICE", 9, 6, priority=0),
    Column("ip", "IP ADDRESS", 16, 8, priority=0),
    Column("mac", "MAC ADDRESS", 18, 8, priority=0),
    Column("interface", "INTERFACE", 16, 6, priority=2),
    Column("age", "AGE", 6, 3, align="right", priority=2),
)
SUMMARY_COLUMNS = (
    Column("peering", "PEERING", 20, 8),
    Column("device", "DEVICE", 9, 6, priority=0),
    Column("neighbor", "NEIGHBOR", 16, 8, priority=0),
    Column("asn", "AS", 8, 4, align="right"),
    Column("updown", "UP/DOWN", 10, 6),
    Column("state", "STATE/PFXRCD", 14, 6, priority=0),
)
STATS_COLUMNS = (
    Column("scope", "SCOPE", 22, 8, priority=0),
    Column("pin", "PRIMARY IN", 16, 8, align="right"),
    Column("pout", "PRIMARY OUT", 16, 8, align="right"),
    Column("sin", "SECONDARY IN", 16, 8, align="right"),
    Column("sout", "SECONDARY OUT", 16, 8, align="right"),
)
AVAILABILITY_COLUMNS = (
    Column("peering", "PEERING", 20, 8, priority=0),
    Column("device", "DEVICE", 10, 6, priority=0),
    Column("bgp", "BGP %", 8, 5, align="right", priority=0),
    Column("arp", "ARP %", 8, 5, align="right", priority=0),
)

DIP_COLUMNS = (Column("time", "UTC", 5, 5, priority=0), *AVAILABILITY_COLUMNS)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _avail_level(bgp: float | None, arp: float | None) -> Level:
    values = [v for v in (bgp, arp) if v is not None]
    if not values:
        return "info"
    if min(values) == 0:
        return "critical"
    if min(values) < 100:
        return "warning"
    return "ok"


class CircuitDetails(DetailsScreen):
    TITLE_TEXT = "Circuit"
    DETAIL_COLUMNS = AVAILABILITY_COLUMNS

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "arp", "ARP tables", id="circuit.arp"),
        Binding("t", "routes", "Route summary", id="circuit.routes"),
        # priority: the focused table's own "s" (reverse sort) would take it first
        Binding("s", "stats", "Stats", priority=True, id="circuit.stats"),
        Binding("m", "metrics", "Metrics", id="circuit.metrics"),
        Binding("v", "availability", "Availability", id="circuit.availability"),
    ]

    def properties(self) -> list[tuple[str, str]]:
        record: CircuitRecord = self.record
        judged = health.circuit_health(record)
        pairs = [
            ("health", judged.state + (f" ({'; '.join(judged.reasons)})" if judged.reasons else ""))
        ]
        pairs += render.details_lines(record)
        for p in record.peerings:
            pairs.append(
                (
                    f"peering {clean(p.name)}",
                    clean(
                        f"{p.state}, VLAN {p.vlan_id}, ASN {p.azure_asn}/{p.peer_asn}, "
                        f"{p.primary_prefix} {p.secondary_prefix}"
                    ),
                )
            )
        return pairs

    def extra(self) -> ComposeResult:
        yield Label("", id="spark-label")
        yield Sparkline([], id="spark-in")
        yield Sparkline([], id="spark-out")

    def hint(self) -> str:
        k = self.bt.key_hint
        return (
            f"{k('circuit.arp', 'a')} ARP · {k('circuit.routes', 't')} routes · "
            f"{k('circuit.stats', 's')} stats · {k('circuit.metrics', 'm')} metrics · "
            f"{k('circuit.availability', 'v')} availability · "
            f"{k('details.refresh', 'r')} refresh · {k('details.back', 'esc')} back"
        )

    def load(self, *, force: bool) -> None:
        self.action_availability()

    def action_availability(self) -> None:
        record: CircuitRecord = self.record
        rows = [
            Row(
                key=f"{a.peering_type}|{a.device}",
                cells=(clean(a.peering_type), a.device, _pct(a.bgp), _pct(a.arp)),
                level=_avail_level(a.bgp, a.arp),
            )
            for a in record.availability
        ]
        self.show_rows(rows, AVAILABILITY_COLUMNS)

    def _per_device(
        self,
        domain: str,
        method: str,
        columns: Sequence[Column],
        cells: Callable[[Any], tuple[str, ...]],
    ) -> None:
        record: CircuitRecord = self.record
        if not record.peerings:
            self.notify("this circuit has no peerings", severity="warning")
            return
        targets = [(p.name, d) for p in record.peerings for d in ("primary", "secondary")]

        async def fetch(session: Any) -> Sequence[Any]:
            from btconsole.azure import circuits

            call = getattr(circuits, method)
            found: list[Any] = []
            for peering, device in targets:
                found += await call(session, record.id, peering, device)
            return found

        def to_rows(records: Sequence[Any]) -> tuple[list[Row], Sequence[Column]]:
            return [
                Row(key=f"{i}", cells=cells(r), payload=r) for i, r in enumerate(records)
            ], columns

        self.fetch(domain, record.id, fetch, to_rows, True)

    def action_arp(self) -> None:
        self._per_device(
            "circuit-arp",
            "arp_table",
            ARP_COLUMNS,
            lambda r: (
                clean(r.peering),
                r.device,
                clean(r.ip_address),
                clean(r.mac_address),
                clean(r.interface or "-"),
                str(r.age if r.age is not None else "-"),
            ),
        )

    def action_routes(self) -> None:
        self._per_device(
            "circuit-route-summary",
            "route_summary",
            SUMMARY_COLUMNS,
            lambda r: (
                clean(r.peering),
                r.device,
                clean(r.neighbor),
                str(r.asn if r.asn is not None else "-"),
                clean(r.up_down or "-"),
                clean(r.state_or_prefixes or "-"),
            ),
        )

    def action_stats(self) -> None:
        record: CircuitRecord = self.record

        async def fetch(session: Any) -> Sequence[Any]:
            from btconsole.azure import circuits

            found = [await circuits.stats(session, record.id)]
            for p in record.peerings:
                found.append(await circuits.stats(session, record.id, p.name))
            return found

        def to_rows(records: Sequence[Any]) -> tuple[list[Row], Sequence[Column]]:
            n = render.bytes_text  # 13-digit byte counts were cut to "7,134,545,073…"

            rows = [
                Row(
                    key=r.peering or "circuit",
                    cells=(
                        clean(r.peering or "circuit"),
                        n(r.primary_bytes_in),
                        n(r.primary_bytes_out),
                        n(r.secondary_bytes_in),
                        n(r.secondary_bytes_out),
                    ),
                )
                for r in records
            ]
            return rows, STATS_COLUMNS

        self.fetch("circuit-stats", record.id, fetch, to_rows, True)

    def action_metrics(self) -> None:
        self.load_metrics()

    @work(exclusive=True, group="metrics")
    async def load_metrics(self) -> None:
        record: CircuitRecord = self.record

        async def fetch(session: Any) -> Sequence[Any]:
            from btconsole.azure.circuits import metric_series

            return await metric_series(session, record.id, minutes=60)

        entry = await self.bt.data.refresh_detail(
            record.profile, "circuit-metrics", record.id, fetch, force=True
        )
        if entry is None:
            return
        series: dict[str, dict[str, float]] = defaultdict(dict)
        for point in entry.records:
            if point.value is None:
                continue
            bucket = series[point.metric]
            bucket[point.timestamp] = bucket.get(point.timestamp, 0.0) + point.value
        bits_in = [v for _, v in sorted(series.get("BitsInPerSecond", {}).items())]
        bits_out = [v for _, v in sorted(series.get("BitsOutPerSecond", {}).items())]
        self.query_one("#spark-in", Sparkline).data = bits_in
        self.query_one("#spark-out", Sparkline).data = bits_out
        peak_in = max(bits_in, default=0.0) / 1e6
        peak_out = max(bits_out, default=0.0) / 1e6
        self.query_one("#spark-label", Label).update(
            Text(f"last 60 min: in (peak {peak_in:,.0f} Mbps) / out (peak {peak_out:,.0f} Mbps)")
        )
        # one row per minute, peering and device with a dip, newest first
        dips: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
        for p in entry.records:
            dipped = p.value is not None and p.value < 100
            if dipped and p.metric in ("BgpAvailability", "ArpAvailability"):
                dips[(p.timestamp, p.peering_type or "-", p.device or "-")][p.metric] = p.value
        availability = [
            Row(
                key="|".join(key),
                cells=(
                    clean(key[0][11:16] if len(key[0]) >= 16 else key[0]),
                    clean(key[1]),
                    clean(key[2]),
                    _pct(values.get("BgpAvailability")),
                    _pct(values.get("ArpAvailability")),
                ),
                level=_avail_level(values.get("BgpAvailability"), values.get("ArpAvailability")),
            )
            for key, values in sorted(dips.items(), reverse=True)
        ]
        # the sparklines sit below the properties: bring them into view
        self.query_one("#props", VerticalScroll).scroll_end(animate=False)
        self.show_rows(availability, DIP_COLUMNS)
        if not availability:
            self.notify("no availability dips in the last 60 minutes", timeout=3)


# --------------------------------------------------------------------------- policy

STATE_COLUMNS = (
    Column("resource", "RESOURCE", 32, 16, priority=0, cut="middle"),
    Column("type", "TYPE", 28, 8, priority=2, cut="middle"),
    Column("group", "RESOURCE GROUP", 26, 12, priority=3, cut="middle"),
    Column("location", "LOCATION", 12, 6, priority=4),
    Column("state", "STATE", 13, 12, priority=1),  # NonCompliant, whole
    Column("when", "EVALUATED", 9, 9, align="right", priority=2),  # an age: 3d
)


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no, naming exactly what will be done."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > VerticalScroll { width: 70; height: auto; max-height: 12;
        border: thick $warning;
        background: $surface; padding: 1 2; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(self.question))
            from btconsole.ui.app import BtConsoleApp

            app = self.app
            yes, no = "y", "n / escape"
            if isinstance(app, BtConsoleApp):  # the keys in force
                yes, no = app.key_hint("confirm.yes", yes), app.key_hint("confirm.no", no)
            yield Static(Text(f"{yes}: yes    {no}: no", style="bold"))
            yield Button("Yes", id="yes", variant="warning")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class PolicyDetails(DetailsScreen):
    TITLE_TEXT = "Policy assignment"
    DETAIL_COLUMNS = STATE_COLUMNS

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "evaluate", "Evaluate compliance (write)", id="policy.evaluate"),
    ]

    def subject(self) -> str:
        return clean(self.record.assignment_name)

    def hint(self) -> str:
        k = self.bt.key_hint
        return (
            f"{k('policy.evaluate', 'e')} evaluate (write; needs allow_actions) · "
            f"{k('details.refresh', 'r')} refresh · {k('details.back', 'escape')} back"
        )

    def load(self, *, force: bool) -> None:
        record: PolicyAssignmentRecord = self.record

        async def fetch(session: Any) -> Sequence[Any]:
            from btconsole.azure.policy import non_compliant

            return await non_compliant(session, record.subscription_id, record.assignment_id)

        def to_rows(records: Sequence[Any]) -> tuple[list[Row], Sequence[Column]]:
            now = self.bt.now()
            rows = []
            for r in records:
                age = render.since_seconds(r.timestamp, now)
                cells = (  # the IDs share a long prefix: name and group tell them apart
                    clean(r.resource_id.rstrip("/").rsplit("/", 1)[-1]),
                    clean((r.resource_type or "-").removeprefix("Microsoft.")),
                    render.resource_group_of(r.resource_id),
                    clean(r.resource_location or "-"),
                    clean(r.compliance_state),
                    # how long ago it was evaluated; the raw text if it is not a time
                    render.age_text(age) if age is not None else clean(r.timestamp or "-"),
                )
                rows.append(
                    Row(
                        key=r.resource_id,
                        cells=cells,
                        level="warning",
                        sort_values=(
                            *(cell.lower() for cell in cells[:5]),
                            age if age is not None else math.inf,
                        ),
                        payload=r,
                    )
                )
            return rows, STATE_COLUMNS

        scope = f"{record.subscription_id}|{record.assignment_id}"
        self.fetch("policy-states", scope, fetch, to_rows, force)

    def action_evaluate(self) -> None:
        record: PolicyAssignmentRecord = self.record
        profile = self.bt.config.profile(record.profile)
        if not profile.allow_actions:
            self.notify(
                f"profile {profile.name} is read-only: set allow_actions = true to allow "
                "write actions",
                severity="warning",
                markup=False,
            )
            return
        question = (
            f"Trigger a policy compliance evaluation of subscription {record.subscription_id} "
            f"(customer {profile.display_name})? This is a write action and is audit-logged."
        )
        self.app.push_screen(ConfirmScreen(question), self._confirmed)

    def _confirmed(self, answer: bool | None) -> None:
        if answer:
            self.run_evaluation()

    @work(exclusive=True, group="action")
    async def run_evaluation(self) -> None:
        record: PolicyAssignmentRecord = self.record
        audit = self.bt.audit
        target = f"/subscriptions/{record.subscription_id}"
        audit("policy.triggerEvaluation", record.profile, target, "started")
        self.notify("evaluation started; it can take minutes", timeout=5)
        try:
            engine = self.bt.data.engine
            profile = self.bt.config.profile(record.profile)
            from btconsole.azure.policy import trigger_evaluation

            await trigger_evaluation(engine.session(profile), record.subscription_id)
        except Exception as error:  # mapped AzureError or anything unexpected
            audit("policy.triggerEvaluation", record.profile, target, f"failed: {error}")
            self.notify(
                clean(str(error)), title="Evaluation failed", severity="error", markup=False
            )
            return
        audit("policy.triggerEvaluation", record.profile, target, "succeeded")
        self.notify("evaluation finished", timeout=5)


# --------------------------------------------------------------------------- spend

BREAKDOWN_COLUMNS = (
    Column("kind", "BY", 9, 5, priority=0),
    Column("name", "NAME", 36, 10, priority=0),
    Column("mtd", "MONTH TO DATE", 16, 8, align="right", priority=0),
    Column("share", "SHARE", 7, 5, align="right", priority=1),
)


class SpendDetails(DetailsScreen):
    TITLE_TEXT = "Spend"
    DETAIL_COLUMNS = BREAKDOWN_COLUMNS

    def __init__(self, record: Any) -> None:
        super().__init__(record)
        self.profile_name, self.subscription_id, self.currency = record

    def subject(self) -> str:
        names = self.bt.data.subscription_names([self.profile_name])
        return clean(names.get(self.subscription_id, self.subscription_id))

    def resource(self) -> tuple[str | None, str | None]:
        return self.profile_name, azure_id_of(self.record)

    def _records(self) -> list[Any]:
        from btconsole.cache import CacheKey

        if self.subscription_id == health.CUSTOMER_FORECAST:
            # the row of a customer's forecast (its billing account's customer scope):
            # every subscription of the customer
            return list(self.bt.data.snapshot("spend", [self.profile_name]).records)
        entry = self.bt.data.detail(CacheKey(self.profile_name, "spend", self.subscription_id))
        return list(entry.records) if entry is not None else []

    def properties(self) -> list[tuple[str, str]]:
        records = self._records()
        costs = [r for r in records if isinstance(r, CostRecord) and r.currency == self.currency]
        from btconsole.ui.panes import latest_cost_day

        today = latest_cost_day(costs, self.bt.now())
        month = today.strftime("%Y-%m")
        mtd = sum(c.amount for c in costs if c.date.startswith(month))
        pairs = [
            ("customer", clean(self.bt.config.profile(self.profile_name).display_name)),
            ("subscription", self.subscription_id),
            ("currency", self.currency),
            ("month to date", render.money(mtd, self.currency)),
        ]
        forecasts = [f for f in records if isinstance(f, ForecastRecord)]
        for f in health.effective_forecasts(forecasts):
            label = "forecast (month)"
            if f.subscription_id == health.CUSTOMER_FORECAST:
                label = "customer forecast (month, every subscription)"
            pairs.append((label, render.money(f.forecast, f.currency)))
        for b in records:
            if isinstance(b, BudgetRecord):
                pairs.append(
                    (
                        f"budget {clean(b.name)}",
                        f"{render.money(b.amount, b.currency)}; spent "
                        f"{render.money(b.current_spend, b.currency)}; forecast "
                        f"{render.money(b.forecast_spend, b.currency)}",
                    )
                )
        for a in health.spend_anomalies(costs):
            factor = f"x{a.factor:.1f}" if a.factor is not None else ""
            pairs.append(
                (
                    f"anomaly {a.date}",
                    clean(f"{a.service}: {render.money(a.amount, a.currency)} {factor}"),
                )
            )
        return pairs

    def extra(self) -> ComposeResult:
        costs = [
            r for r in self._records() if isinstance(r, CostRecord) and r.currency == self.currency
        ]
        daily: dict[str, float] = defaultdict(float)
        for c in costs:
            daily[c.date] += c.amount
        values = [v for _, v in sorted(daily.items())]
        yield Label(Text(f"daily cost, last {len(values)} days"))
        yield Sparkline(values, id="spark-daily")

    def load(self, *, force: bool) -> None:
        records = self._records()
        costs = [r for r in records if isinstance(r, CostRecord) and r.currency == self.currency]
        from btconsole.ui.panes import latest_cost_day

        month = latest_cost_day(costs, self.bt.now()).strftime("%Y-%m")
        by_service: dict[str, float] = defaultdict(float)
        by_group: dict[str, float] = defaultdict(float)
        for c in costs:
            if c.date.startswith(month):
                by_service[c.service] += c.amount
                by_group[c.resource_group] += c.amount
        total = sum(by_service.values()) or 1.0
        rows = []
        for kind, table in (("service", by_service), ("group", by_group)):
            for name, amount in sorted(table.items(), key=lambda item: -item[1]):
                rows.append(
                    Row(
                        key=f"{kind}|{name}",
                        cells=(
                            kind,
                            clean(name),
                            render.money(amount, self.currency),
                            f"{amount / total * 100:.0f}%",
                        ),
                        sort_values=(kind, name.lower(), -amount, -amount),
                    )
                )
        self.show_rows(rows, BREAKDOWN_COLUMNS)


class EventDetails(DetailsScreen):
    """A Service Health event: what, where, since; its update timeline and the
    customer's resources it impacts."""

    TITLE_TEXT = "Service Health event"
    DETAIL_COLUMNS = render.EVENT_UPDATE_COLUMNS

    def properties(self) -> list[tuple[str, str]]:
        merged: health.CustomerEvent = self.record
        e = merged.event
        now = self.bt.now()
        return [
            ("type", clean(health.event_label(e))),
            ("title", clean(e.title)),
            ("tracking id", clean(e.tracking_id)),
            ("status", clean(e.status or "?")),
            ("services", clean(", ".join(sorted({i.service for i in e.impacts})) or "?")),
            ("regions", clean(", ".join(sorted({i.region for i in e.impacts})) or "?")),
            ("subscriptions", clean(self._subscriptions(merged.subscriptions) or "-")),
            ("since", clean(health.clock_text(e.impact_start, now))),
            ("last update", clean(health.clock_text(e.last_update, now))),
            ("summary", clean(e.summary or "-")),
        ]

    def _subscriptions(self, ids: Sequence[str]) -> str:
        """Each subscription by its name (as the pane's row says) and its ID."""
        listed = self.bt.data.subscription_names([self.record.event.profile])
        names = {sub.lower(): name for sub, name in listed.items()}
        return ", ".join(f"{names[s.lower()]} ({s})" if names.get(s.lower()) else s for s in ids)

    def subject(self) -> str:
        return clean(self.record.event.title)

    def resource(self) -> tuple[str | None, str | None]:
        return self.record.event.profile, None

    def load(self, *, force: bool) -> None:
        self.show_rows(render.event_detail_rows(self.record))


class HealthRecordDetails(DetailsScreen):
    """A fired alert or a resource's Resource Health: every property. It has no
    related rows, so no empty table under them; the title names the resource (a
    Resource Health record has no name of its own: the title said ``Details []``)."""

    ROW_COUNTS = False
    DEFAULT_CSS = """
    HealthRecordDetails #props { max-height: 100%; }
    HealthRecordDetails #detail { display: none; }
    """

    def __init__(self, record: AlertRecord | ResourceHealthRecord) -> None:
        super().__init__(record)
        self.TITLE_TEXT = "Alert" if isinstance(record, AlertRecord) else "Resource Health"

    def subject(self) -> str:
        record = self.record
        if isinstance(record, AlertRecord):
            return clean(record.name or "")
        return clean(record.resource_id.rstrip("/").rsplit("/", 1)[-1])


def details_screen(app: BtConsoleApp, payload: Any) -> Screen[None] | None:
    """The details screen for a row's payload, or None."""
    if isinstance(payload, health.CustomerEvent):
        return EventDetails(payload)
    if isinstance(payload, (AlertRecord, ResourceHealthRecord)):
        return HealthRecordDetails(payload)
    if isinstance(payload, ArcRecord):
        return ArcDetails(payload)
    if isinstance(payload, CircuitRecord):
        return CircuitDetails(payload)
    if isinstance(payload, PolicyAssignmentRecord):
        return PolicyDetails(payload)
    if isinstance(payload, ComplianceRecord):
        return DetailsScreen(payload)
    if isinstance(payload, tuple) and len(payload) == 3:
        return SpendDetails(payload)
    return None
