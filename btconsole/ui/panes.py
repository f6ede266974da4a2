"""The overview and the five panes. Each is a screen built on the shared table.

A pane says which domain it shows, its columns, and how records become rows (pure
functions in :mod:`btconsole.ui.render`); the base class does the rest: filter input,
title, status bar, details on enter, copy and portal link.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Input, Static

from btconsole import health
from btconsole.digest import CustomerHealth
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
    ServiceHealthEvent,
)
from btconsole.ui import render
from btconsole.ui.data import PANE_DOMAINS
from btconsole.ui.links import CopiedBar, azure_id_of, profile_of
from btconsole.ui.table import Column, ResourceTable, Row
from btconsole.ui.widgets import StatusBar, TitleBar

if TYPE_CHECKING:
    from btconsole.ui.app import BtConsoleApp


BARS_EVERY = 5.0  # seconds between status bar updates (data ages, refresh state)


class PaneScreen(Screen[None]):
    """Base of every pane: a title, the resource table, a filter line, the status bar."""

    PANE = "pane"
    TITLE_TEXT = "Pane"
    DOMAINS: ClassVar[tuple[str, ...]] = ()
    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    DEFAULT_SORT: ClassVar[str | None] = None  # worst first, where the pane has a notion
    # what ``r`` refreshes: the domains the pane shows (its own, PANE, when empty)
    REFRESHES: ClassVar[tuple[str, ...]] = ()

    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: handled as the key arrives, so what is typed straight after "/"
        # (one read from a slow SSH link) already goes to the filter box
        Binding("slash", "filter", "Filter", key_display="/", priority=True, id="pane.filter"),
        Binding("escape", "back", "Back / clear filter", show=False, id="pane.back"),
        Binding("y", "copy_id", "Copy the resource ID (OSC 52)", id="pane.copy"),
        Binding("o", "portal_link", "Copy and show the portal link", id="pane.portal"),
    ]

    DEFAULT_CSS = """
    PaneScreen #bottom { dock: bottom; height: auto; }
    PaneScreen Input#filter, PaneScreen Input#filter:focus {
        height: 1;
        border: none;
        padding: 0 1;
        display: none;
        background: $boost;
    }
    PaneScreen Input#filter.-visible { display: block; }
    PaneScreen #filter-hint {
        height: 1;
        padding: 0 1;
        display: none;
        background: $boost;
        color: $text-warning;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    PaneScreen #filter-hint.-visible { display: block; }
    """

    FILTER_PLACEHOLDER = "filter: text  key:value  key:=exact  since>7d  !negate"

    @property
    def bt(self) -> BtConsoleApp:
        from btconsole.ui.app import BtConsoleApp

        assert isinstance(self.app, BtConsoleApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield TitleBar(id="title")
        yield ResourceTable(self.COLUMNS, id="table")
        yield from self.compose_bottom()

    def compose_bottom(self) -> ComposeResult:
        """The filter's hint and input line, and the status bar."""
        with Vertical(id="bottom"):
            yield Static("", id="filter-hint", markup=False)
            # the cursor at the end of the query in force: typing refines it, as
            # when keys arrive before the focus (select-on-focus made the first key
            # typed slowly replace the whole query)
            yield Input(placeholder=self.FILTER_PLACEHOLDER, id="filter", select_on_focus=False)
            yield StatusBar(id="status")

    @property
    def table(self) -> ResourceTable:
        return self.query_one("#table", ResourceTable)

    _filter_target: ResourceTable | None = None

    @property
    def active_table(self) -> ResourceTable:
        """The table ``/`` filters and the title counts: the focused one, or the one
        the open filter line is bound to (the pane's main table otherwise)."""
        focused = self.focused
        if isinstance(focused, ResourceTable):
            return focused
        box = self.query_one("#filter", Input)
        if self._filter_target is not None and box.has_class("-visible"):
            return self._filter_target
        return self.table

    def on_mount(self) -> None:
        if self.DEFAULT_SORT:
            self.table.sort_by(self.DEFAULT_SORT, reverse=False)
        self.reload()
        self.table.focus()
        self.set_interval(BARS_EVERY, self._tick_bars)  # ages keep counting between refreshes

    def _tick_bars(self) -> None:
        if self.is_current:
            self.update_bars()

    # Textual resumes a screen just mounted by switch_mode twice: rebuilding then cost
    # as much again as the first build (a second 20,600-row Arc table). Only coming
    # back to the pane (from another pane or a details screen) needs a rebuild.
    _suspended = False

    def on_screen_suspend(self) -> None:
        self._suspended = True

    def on_screen_resume(self) -> None:
        if self._suspended:
            self._suspended = False
            self.reload()

    # ------------------------------------------------------------------ data

    def build_rows(self, profiles: list[str]) -> list[Row]:
        raise NotImplementedError

    _shown_scope: str | None = None
    _shown_once = False

    def reload(self) -> None:
        """Rebuild the rows from the cache (cheap: no network).

        After a change of scope (``:customer``, ``:all``), every table of the pane
        starts again at its first row: another customer's list is a new list, and an
        old scroll offset would hide its first rows.
        """
        scope = self.bt.scope
        profiles = self.bt.data.profiles(scope)
        self.table.set_rows(self.build_rows(profiles))
        if self._shown_once and scope != self._shown_scope:
            for table in self.query(ResourceTable):
                table.go_top()
        self._shown_scope, self._shown_once = scope, True
        self.update_bars()

    def update_title(self) -> None:
        """The title's counts and filter: all a filter keystroke changes."""
        table = self.active_table
        self.query_one(TitleBar).show(
            self.TITLE_TEXT,
            self.bt.scope_label(),
            table.filtered_count,
            table.total_count,
            table.applied_filter,
        )

    def update_bars(self) -> None:
        app = self.bt
        scope = app.scope_label()
        self.update_title()
        profiles = app.data.profiles(app.scope)
        # from the cache's summary: decoding every record on each filter keystroke cost
        # ~0.2 s with 50,000 machines
        # every domain, health too: the Health pane and the Arc pane's patch columns
        # show its data, and its age and failures must show as the others' do
        states = app.data.domain_states(PANE_DOMAINS, profiles)
        listing_errors, unknown = app.data.listing_state(profiles)
        self.query_one(StatusBar).show(
            scope,
            states,
            listing_errors=listing_errors,
            unknown=unknown,
            refreshing=bool(app.data.refreshing) or app.data.in_flight() > 0,
            throttled=app.data.throttled(),
            offline=app.data.offline,
            keys_hint=f"{app.key_hint('app.help', '?')} help",
        )

    # ------------------------------------------------------------------ keys

    def action_filter(self) -> None:
        if isinstance(self.focused, Input):
            raise SkipAction()  # "/" typed into the filter box is text
        target = self.active_table
        self._filter_target = target
        box = self.query_one("#filter", Input)
        box.add_class("-visible")
        with box.prevent(Input.Changed):  # the target already holds this query
            box.value = target.filter_text
        box.cursor_position = len(box.value)
        self._show_hint(target.filter_error)
        self.set_focus(box)  # at once: focus() would wait a turn

    _hint_shown: str | None = None

    def _show_hint(self, hint: str | None) -> None:
        # only when it changes: Static.update lays the whole screen out again, which
        # on every filter keystroke repainted each widget (a third of the keystroke)
        if (hint or None) == self._hint_shown:
            return
        self._hint_shown = hint or None
        label = self.query_one("#filter-hint", Static)
        label.update(Text(hint or "", no_wrap=True, overflow="ellipsis"))
        label.set_class(bool(hint), "-visible")

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        target = self._filter_target or self.table
        target.set_filter(event.value)
        self._show_hint(target.filter_error)
        self.update_title()  # the status bar says nothing about the filter

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        target = self._filter_target or self.table
        if target.filter_error:  # enter keeps the filter in force, not the bad text
            target.set_filter(target.applied_filter)
        self._show_hint(None)
        self.query_one("#filter", Input).remove_class("-visible")
        target.focus()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        table = self.active_table
        if box.has_class("-visible") or table.filter_text:
            with box.prevent(Input.Changed):
                box.value = ""
            box.remove_class("-visible")
            self._show_hint(None)
            table.set_filter("")
            table.focus()
            self.update_bars()

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, ResourceTable):
            self.update_bars()  # the title counts the focused table

    def selected_id(self) -> str | None:
        """The Azure ID of the focused table's row (None: not an Azure resource)."""
        row = self.active_table.cursor_row
        return None if row is None else azure_id_of(row.payload)

    def copied_bar(self) -> CopiedBar:
        """The one-line bar above the status bar that shows what y / o copied."""
        try:
            return self.query_one(CopiedBar)
        except NoMatches:
            bar = CopiedBar(id="copied")
            self.query_one("#bottom").mount(bar, before="#status")
            return bar

    def action_copy_id(self) -> None:
        row = self.active_table.cursor_row
        resource_id = self.selected_id()
        if row is None or resource_id is None:
            self.notify("no Azure resource selected", severity="warning")
            return
        self.app.copy_to_clipboard(resource_id)  # as Azure has it: OSC 52 is base64
        self.copied_bar().show("ID", resource_id, row_key=row.key)

    def action_portal_link(self) -> None:
        row = self.active_table.cursor_row
        resource_id = self.selected_id()
        if resource_id is None or row is None:
            self.notify("no Azure resource selected", severity="warning")
            return
        url = self.bt.portal_url(profile_of(row.payload), resource_id)
        self.app.copy_to_clipboard(url)
        self.copied_bar().show("portal link", url, row_key=row.key, link=url)

    @on(ResourceTable.CursorMoved)
    def _cursor_moved(self, event: ResourceTable.CursorMoved) -> None:
        """What was copied belongs to its row: gone when another row is selected."""
        for bar in self.query(CopiedBar):
            if bar.row_key is not None and (event.row is None or event.row.key != bar.row_key):
                bar.hide()

    @on(ResourceTable.Selected)
    def _selected(self, event: ResourceTable.Selected) -> None:
        self.open_details(event.row)

    def open_details(self, row: Row) -> None:
        from btconsole.ui.details import details_screen

        screen = details_screen(self.bt, row.payload)
        if screen is not None:
            self.app.push_screen(screen)


class OverviewScreen(PaneScreen):
    """Every customer at once, and the attention list below."""

    PANE = "overview"
    TITLE_TEXT = "Overview"
    COLUMNS = render.OVERVIEW_COLUMNS
    # worst first: critical findings, a customer without data among them (its 'no
    # data' finding is critical), then warnings
    DEFAULT_SORT = "findings"

    DEFAULT_CSS = """
    OverviewScreen #table { height: auto; max-height: 45%; }
    OverviewScreen #attention { height: 1fr; border-top: solid $primary; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "switch_table", "Customers / attention", id="overview.switch"),
        Binding("w", "toggle_order", "Worst first / config order", id="overview.order"),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._health: dict[str, CustomerHealth] = {}  # what the rows show, by customer
        self._order: list[str] = []  # the customers in view, in the config's order
        # each customer's attention rows, kept while its health is the same object
        self._attention: dict[str, tuple[CustomerHealth, list[Row]]] = {}
        self._pending: set[str] = set()  # customers landed, not shown yet
        self._updating = False  # an update is being made in a thread
        self._generation = 0  # full rebuilds: an update begun before one is dropped

    def action_toggle_order(self) -> None:
        """Customers worst first (the default) or in the config's order."""
        table = self.table
        if table.sort_key is None:
            table.sort_by("findings", reverse=False)
            self.notify("customers worst first", timeout=3)
        else:
            table.clear_sort()
            self.notify("customers in config order", timeout=3)
        self.update_bars()

    def compose(self) -> ComposeResult:
        yield TitleBar(id="title")
        yield ResourceTable(self.COLUMNS, id="table")
        yield ResourceTable(render.ATTENTION_COLUMNS, id="attention")
        yield from self.compose_bottom()

    def build_rows(self, profiles: list[str]) -> list[Row]:
        app = self.bt
        now = app.now()
        # from each customer's digest (btconsole.digest): the first frame does not wait
        # for every record of the estate to be decoded and judged again
        customers, outdated = app.data.customer_health(profiles, now, stale_ok=True)
        if outdated:
            self._remake(outdated)
        self._health = {c.summary.profile: c for c in customers}
        self._order = list(profiles)
        return self._rows(now)

    def update_customers(self, names: Iterable[str]) -> None:
        """Show what a refresh made of ``names`` (their digests are current): read
        those customers alone and update their rows, not the estate's.

        The reading and the rows are made in a thread; the event loop only sets them,
        so keys are not kept waiting while customers land. Customers that land while
        one update is made are taken by the next.
        """
        app = self.bt
        profiles = app.data.profiles(app.scope)
        if profiles != self._order or not self._health:
            self.reload()
            return
        self._pending.update(name for name in names if name in set(profiles))
        if self._pending and not self._updating:
            self._start_update()

    def _start_update(self) -> None:
        app = self.bt
        wanted = [name for name in self._order if name in self._pending]
        self._pending.clear()
        self._updating = True
        now = app.now()
        generation = self._generation
        health_now, attention_now = dict(self._health), dict(self._attention)

        def work() -> None:
            try:
                customers, outdated = app.data.customer_health(wanted, now, stale_ok=True)
                merged = {**health_now, **{c.summary.profile: c for c in customers}}
                made = self._make_rows(merged, attention_now, now)
            except Exception:  # the cache failed: keep the rows shown
                logging.getLogger(__name__).exception("updating the overview failed")
                app.call_from_thread(self._updated, generation, None, [])
                return
            app.call_from_thread(self._updated, generation, (merged, *made), outdated)

        self.run_worker(work, thread=True, group="overview-update", exit_on_error=False)

    def _updated(self, generation: int, made: Any, outdated: list[str]) -> None:
        self._updating = False
        if not self.is_running:
            return
        if made is not None and generation == self._generation:  # no full reload since
            self._health, overview, attention, self._attention = made
            self.query_one("#attention", ResourceTable).set_rows(attention)
            self.table.set_rows(overview)
            self.update_bars()
        if outdated and not self.bt.data.refreshing:
            self._remake(outdated)
        if self._pending:
            self._start_update()

    def _rows(self, now: dt.datetime) -> list[Row]:
        """The customers' rows; the attention list is set from the same health."""
        self._generation += 1
        overview, attention, self._attention = self._make_rows(self._health, self._attention, now)
        self.query_one("#attention", ResourceTable).set_rows(attention)
        return overview

    def _make_rows(
        self,
        known_health: dict[str, CustomerHealth],
        known_rows: dict[str, tuple[CustomerHealth, list[Row]]],
        now: dt.datetime,
    ) -> tuple[list[Row], list[Row], dict[str, tuple[CustomerHealth, list[Row]]]]:
        """(overview rows, attention rows, each customer's attention rows) from the
        customers' health; a customer whose health is the same object keeps its rows.
        Touches no widget: safe in a thread."""
        customers = [known_health[name] for name in self._order if name in known_health]
        names = render.customer_names(self.bt.config)
        rows: list[Row] = []
        made: dict[str, tuple[CustomerHealth, list[Row]]] = {}
        for customer in customers:
            name = customer.summary.profile
            known = known_rows.get(name)
            if known is not None and known[0] is customer:
                mine = known[1]
            else:  # only a customer that changed is ranked and rendered again
                ranked = health.attention(customer.findings, min_severity="warning")
                mine = render.attention_rows(ranked, customers=names, now=now)
            made[name] = (customer, mine)
            rows.extend(mine)
        rows.sort(key=_first_sort_value)
        overview = render.overview_rows(
            [c.summary for c in customers], {c.summary.profile: c.coverage for c in customers}
        )
        return overview, rows, made

    _remaking = False

    def _remake(self, profiles: list[str]) -> None:
        """Make out-of-date customers current off the event loop, then show them.

        Until then they show their last digest: the last known truth, not a blank.
        """
        if self._remaking:
            return
        self._remaking = True
        app = self.bt
        app.data.refreshing.add("health")
        now = app.now()

        def work() -> None:
            ok = False
            try:
                app.data.remake_health(profiles, now)
                ok = True
            except Exception:  # the cache failed: keep showing the last digests
                logging.getLogger(__name__).exception("making digests again failed")
            finally:
                app.call_from_thread(self._remade, ok)

        self.run_worker(work, thread=True, group="digests", exit_on_error=False)

    def _remade(self, ok: bool) -> None:
        self.bt.data.refreshing.discard("health")
        if ok and self.is_running:
            self._remaking = False
            self.reload()  # (after a failure _remaking stays set: no retry loop)

    def action_switch_table(self) -> None:
        attention = self.query_one("#attention", ResourceTable)
        (self.table if attention.has_focus else attention).focus()

    @on(ResourceTable.Selected)
    def _selected(self, event: ResourceTable.Selected) -> None:
        payload = event.row.payload
        if isinstance(payload, health.CustomerSummary):
            self.bt.set_scope(payload.profile)
            self.bt.switch_mode("arc")
        elif isinstance(payload, health.Finding):
            self.bt.show_finding(payload)


class ArcPane(PaneScreen):
    PANE = "arc"
    TITLE_TEXT = "Arc servers and clusters"
    COLUMNS = render.ARC_COLUMNS
    DEFAULT_SORT = "status"
    REFRESHES = ("arc", "health")  # the patch columns are the health domain's

    def build_rows(self, profiles: list[str]) -> list[Row]:
        app = self.bt
        records = [
            r for r in app.data.snapshot("arc", profiles).records if isinstance(r, ArcRecord)
        ]
        return render.arc_rows(
            records,
            customers=render.customer_names(app.config),
            subscriptions=app.data.subscription_names(profiles),
            now=app.now(),
            behind_threshold={
                n: p.thresholds.agent_versions_behind for n, p in app.config.profiles.items()
            },
            patches=self._patches(profiles),
        )

    def _patches(self, profiles: list[str]) -> render.PatchState:
        """The servers' patch state from the health domain: the latest assessments,
        and the subscriptions whose health was ever read (elsewhere: unknown). A scope
        whose last refresh failed keeps its last good records, as the findings do."""
        app = self.bt
        assessments, read = app.data.patch_assessments(profiles)
        return render.PatchState(
            assessments,
            read,
            {n: p.thresholds.patch_assessment_days for n, p in app.config.profiles.items()},
        )


class CircuitsPane(PaneScreen):
    PANE = "circuits"
    TITLE_TEXT = "ExpressRoute circuits"
    COLUMNS = render.CIRCUIT_COLUMNS
    DEFAULT_SORT = "health"

    def build_rows(self, profiles: list[str]) -> list[Row]:
        app = self.bt
        records = [
            r
            for r in app.data.snapshot("circuits", profiles).records
            if isinstance(r, CircuitRecord)
        ]
        return render.circuit_rows(records, customers=render.customer_names(app.config))


class PolicyPane(PaneScreen):
    PANE = "policy"
    TITLE_TEXT = "Policy compliance"
    COLUMNS = render.POLICY_COLUMNS
    DEFAULT_SORT = "noncompliant"

    def build_rows(self, profiles: list[str]) -> list[Row]:
        app = self.bt
        records = app.data.snapshot("policy", profiles).records
        return render.policy_rows(
            [r for r in records if isinstance(r, PolicyAssignmentRecord)],
            [r for r in records if isinstance(r, ComplianceRecord)],
            customers=render.customer_names(app.config),
            subscriptions=app.data.subscription_names(profiles),
            thresholds={n: p.thresholds.compliance_percent for n, p in app.config.profiles.items()},
        )


class SpendPane(PaneScreen):
    PANE = "spend"
    TITLE_TEXT = "Spend"
    COLUMNS = render.SPEND_COLUMNS

    def build_rows(self, profiles: list[str]) -> list[Row]:
        app = self.bt
        records = app.data.snapshot("spend", profiles).records
        costs = [r for r in records if isinstance(r, CostRecord)]
        return render.spend_rows(
            costs,
            [r for r in records if isinstance(r, ForecastRecord)],
            [r for r in records if isinstance(r, BudgetRecord)],
            customers=render.customer_names(app.config),
            subscriptions=app.data.subscription_names(profiles),
            today=latest_cost_day(costs, app.now()),
        )


class HealthPane(PaneScreen):
    """Is it Azure or us? Active Service Health events reaching the customers, fired
    alerts and resources Unavailable or Degraded; enter on an event shows its update
    timeline and the resources it impacts."""

    PANE = "health"
    TITLE_TEXT = "Azure health"
    COLUMNS = render.HEALTH_COLUMNS
    DOMAINS = ("health",)

    def build_rows(self, profiles: list[str]) -> list[Row]:
        app = self.bt
        records = app.data.snapshot("health", profiles).records
        by_customer: dict[str, list[ServiceHealthEvent]] = {}
        for r in records:
            if isinstance(r, ServiceHealthEvent):
                by_customer.setdefault(r.profile, []).append(r)
        events = [m for name in profiles for m in health.customer_events(by_customer.get(name, []))]
        rows = render.health_rows(
            events,
            [r for r in records if isinstance(r, AlertRecord)],
            [r for r in records if isinstance(r, ResourceHealthRecord)],
            customers=render.customer_names(app.config),
            subscriptions=app.data.subscription_names(profiles),
            now=app.now(),
        )
        return sorted(rows, key=render.health_rank)


def _first_sort_value(row: Row) -> Any:
    return row.sort_values[0] if row.sort_values else ()


def latest_cost_day(costs: list[CostRecord], now: dt.datetime) -> dt.date:
    """ "Today" for spend: the newest cost date seen (Azure's data lags), else now."""
    newest = max((c.date for c in costs), default=None)
    if newest is None:
        return now.date()
    try:
        return dt.date.fromisoformat(newest)
    except ValueError:
        return now.date()


PANES: dict[str, type[PaneScreen]] = {
    "overview": OverviewScreen,
    "arc": ArcPane,
    "circuits": CircuitsPane,
    "policy": PolicyPane,
    "spend": SpendPane,
    "health": HealthPane,
}
