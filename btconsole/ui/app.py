"""The console: wires panes, keys, themes, the command line and background refresh.

Kept small on purpose: panes live in :mod:`btconsole.ui.panes`, details in
:mod:`btconsole.ui.details`, the table in :mod:`btconsole.ui.table`, help and the
command line in :mod:`btconsole.ui.screens`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar
from urllib.parse import quote

from textual.actions import SkipAction
from textual.app import App, ScreenStackError
from textual.binding import Binding, BindingType
from textual.command import Hit, Hits, Provider

from btconsole.cache import Cache, CacheKey
from btconsole.config import Config
from btconsole.health import Finding
from btconsole.ui.commandline import Grammar, history_path, load_history, matches, save_history
from btconsole.ui.data import PANE_DOMAINS, DataSource
from btconsole.ui.keys import HELP_GROUPS, check_keymap, key_label, keys_in_force, registry
from btconsole.ui.panes import PANES, PaneScreen
from btconsole.ui.textsafe import clean
from btconsole.ui.themes import choose_theme, load_themes, shipped_theme_dir, user_theme_dir

audit_log = logging.getLogger("btconsole.audit")
PANE_KEYS = {
    "1": "overview",
    "2": "arc",
    "3": "circuits",
    "4": "policy",
    "5": "spend",
    "6": "health",
}


class PaneCommands(Provider):
    """Command palette (ctrl+p): panes, customers, refresh, themes."""

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, BtConsoleApp)
        matcher = self.matcher(query)
        for command, help_text, action in app.palette_commands():
            score = matcher.match(command)
            if score > 0:
                yield Hit(score, matcher.highlight(command), action, help=help_text)


class BtConsoleApp(App[int]):
    """btconsole's Textual application."""

    TITLE = "btconsole"
    COMMANDS: ClassVar[set[type[Provider]]] = {PaneCommands}  # type: ignore[assignment]
    MODES: ClassVar[dict[str, Any]] = {name: cls for name, cls in PANES.items()}  # noqa: C416
    DEFAULT_MODE = "overview"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "pane('overview')", "Overview", id="app.overview"),
        Binding("2", "pane('arc')", "Arc", id="app.arc"),
        Binding("3", "pane('circuits')", "Circuits", id="app.circuits"),
        Binding("4", "pane('policy')", "Policy", id="app.policy"),
        Binding("5", "pane('spend')", "Spend", id="app.spend"),
        Binding("6", "pane('health')", "Azure health", id="app.health"),
        # priority: opened as ":" arrives, so the text typed straight after it is not lost
        Binding(
            "colon",
            "command_line",
            "Command line",
            key_display=":",
            priority=True,
            id="app.command",
        ),
        Binding("r", "refresh", "Refresh pane", id="app.refresh"),
        Binding("R", "refresh_all", "Refresh all", key_display="shift+r", id="app.refresh_all"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("ctrl+p", "command_palette", "Command palette", id="app.palette"),
        # ctrl+c quits too (Textual's default only says which key quits); in a text box
        # with a selection it copies, and on the command line it cancels the line
        Binding("q,ctrl+c", "quit", "Quit", id="app.quit"),
    ]

    def __init__(
        self,
        config: Config,
        cache: Cache,
        *,
        scope: str | None = None,
        offline: bool = False,
        theme: str | None = None,
        environ: Mapping[str, str] | None = None,
        engine_factory: Any = None,
        refresh_interval: float | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        data_clock: Callable[[], float] | None = None,
        refresher_args: Sequence[str] = (),
        refresher_environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.data = DataSource(
            config,
            cache,
            offline=offline,
            engine_factory=engine_factory,
            clock=data_clock or time.time,
            now=self.now if clock is not None else None,
            refresher_args=refresher_args,
            refresher_environ=refresher_environ,
        )
        self.scope = scope
        self._requested_theme = theme or config.theme
        self._environ = os.environ if environ is None else environ
        self.refresh_interval = (
            refresh_interval if refresh_interval is not None else config.refresh_interval
        )
        self._clock = clock
        self.first_paint: float | None = None
        self._painted_at: float | None = None
        self.data.add_listener(self._data_changed)
        self.data.add_customer_listener(self._customer_changed)
        self.data.add_message_listener(self._refresh_message)
        self.data.add_discovery_listener(self._customers_discovered)
        self._discovery_told: set[str] = set()  # providers whose failure was notified
        self._history: list[str] | None = None  # read at the first ":"
        self._history_warned = False
        # the user's [keys] table, checked (unknown ids, clashes: ConfigError), as
        # Textual's keymap: every binding, help and the hints follow it
        self.set_keymap(check_keymap(config))

    # ------------------------------------------------------------------ start-up

    def on_mount(self) -> None:
        themes = load_themes(shipped_theme_dir(), user_theme_dir())
        for theme in themes.themes.values():
            self.register_theme(theme)
        name, problem = choose_theme(self._requested_theme, themes.themes, self._environ)
        self.theme = name
        for message in [*themes.problems, *([problem] if problem else [])]:
            self.notify(clean(message), title="Theme", severity="warning", markup=False)
        # a Lighthouse discovery that failed before the start: its customers are the
        # last discovery's (the status bar counts it with the failed listings)
        self._tell_discovery_problems(self.data.discovery_problems())
        self.call_after_refresh(self._painted)
        if not self._environ.get("BTCONSOLE_BENCH_FILE"):  # (that run quits at once)
            self.run_worker(self.data.prestart(), group="prestart", exit_on_error=False)

    def _painted(self) -> None:
        self.first_paint = time.perf_counter()
        self._painted_at = time.monotonic()  # comparable across processes (the harness)
        bench_file = self._environ.get("BTCONSOLE_BENCH_FILE")
        if bench_file:
            # benchmark aid (btconsole.bench): record the first painted frame and quit
            self._write_bench(bench_file)
            self.exit(0)
            return
        if not self.data.offline:
            self.set_interval(self.refresh_interval, self._tick)
            self.call_later(self._tick)

    def _customers_discovered(self, added: list[str], problems: list[str]) -> None:
        """A Lighthouse rediscovery changed the customers (the data source follows it
        already) or its problems: every pane shows the new customers (and marks those
        whose delegation went) without a restart, and the new ones are refreshed."""
        self.config = self.data.config
        self._tell_discovery_problems(problems)
        if added:
            names = ", ".join(self.config.profiles[n].display_name for n in added)
            self.notify(clean(f"customer(s) delegated: {names}"), markup=False, timeout=5)
        self._reload_screen()
        wanted = [name for name in self.data.profiles(self.scope) if name in set(added)]
        if wanted and not self.data.offline:
            self._start_refresh(list(PANE_DOMAINS), wanted, force=False)

    def _tell_discovery_problems(self, problems: list[str]) -> None:
        """Notify each provider's discovery failure once (until it recovers)."""
        failing = {problem.split(":", 1)[0] for problem in problems}
        for problem in problems:
            if problem.split(":", 1)[0] not in self._discovery_told:
                self.notify(
                    clean(problem), title="Lighthouse discovery", severity="warning", markup=False
                )
        self._discovery_told = failing

    def _refresh_message(self, text: str) -> None:
        """What the refresh asks of the user (a device-code sign-in), shown until read."""
        self.notify(clean(text), title="Sign in", severity="warning", markup=False, timeout=120)

    def _write_bench(self, path: str) -> None:
        import json
        import resource
        import sys

        started = getattr(sys.modules.get("btconsole"), "STARTED", None)
        screen = self.screen
        rows = screen.table.total_count if isinstance(screen, PaneScreen) else 0
        figures = {
            "first_paint_s": (self.first_paint or 0.0) - started if started else None,
            # CLOCK_MONOTONIC is system-wide: the harness subtracts the moment it forked
            "painted_at": self._painted_at,
            "rows": rows,
            "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "azure_imported": any(m == "azure" or m.startswith("azure.") for m in sys.modules),
        }
        with open(path, "w", encoding="utf-8") as handle:  # noqa: PTH123
            json.dump(figures, handle)

    def now(self) -> dt.datetime:
        return self._clock() if self._clock else dt.datetime.now(dt.timezone.utc)

    # ------------------------------------------------------------------ scope

    def scope_label(self) -> str:
        if self.scope is None:
            return f"all customers ({len(self.config.profiles)})"
        profile = self.config.profiles.get(self.scope)
        return profile.display_name if profile else self.scope

    def set_scope(self, profile: str | None) -> None:
        self.scope = profile
        self._reload_screen()
        self.call_later(self._tick)

    def portal_url(self, profile: str | None, resource_id: str) -> str:
        """The portal page of ``resource_id``, in the profile's tenant and cloud.

        The ID comes from Azure: it is cleaned and percent-encoded, so the URL is
        printable ASCII without spaces and cannot end the OSC 8 sequence it is put in.
        """
        config_profile = self.config.profiles.get(profile or "")
        portal = config_profile.cloud.portal if config_profile else "https://portal.azure.com/"
        tenant = config_profile.tenant_id if config_profile else ""
        path = quote(clean(resource_id), safe="/-_.~()")
        return f"{portal}#@{quote(tenant, safe='-.')}/resource{path}"

    # ------------------------------------------------------------------ refresh

    def _tick(self) -> None:
        """Refresh what is due (TTL run out) for the profiles in view."""
        profiles = self.data.profiles(self.scope)
        due = [
            domain
            for domain in PANE_DOMAINS
            if domain not in self.data.refreshing and self.data.due(domain, profiles)
        ]
        if due:
            self._start_refresh(due, profiles, force=False)

    def _start_refresh(self, domains: list[str], profiles: list[str], *, force: bool) -> None:
        self.run_worker(
            self._refresh(domains, profiles, force),
            group="refresh",
            exclusive=False,
            exit_on_error=False,
        )

    async def _refresh(self, domains: list[str], profiles: list[str], force: bool) -> None:
        what = ", ".join(domains)
        try:
            outcomes = await self.data.refresh(domains, profiles, force=force)
        except Exception as error:  # never crash the console on a refresh
            logging.getLogger(__name__).exception("refresh of %s failed", what)
            self.notify(
                clean(str(error)), title=f"{what}: refresh failed", severity="error", markup=False
            )
            self._reload_screen()
            return
        failed = [o for o in outcomes if o.status == "failed"]
        if failed:
            where = ", ".join(dict.fromkeys(o.key.domain for o in failed))
            self.notify(
                clean(
                    f"{len(failed)} scope(s) failed; showing the last good data. "
                    f"{failed[0].error or ''}"
                ),
                title=f"{where}: refresh failed",
                severity="warning",
                markup=False,
            )
        from btconsole.ui.panes import OverviewScreen

        if isinstance(self._current_pane(), OverviewScreen):
            self._update_bars()  # its customers' rows were updated one by one
        else:
            self._reload_screen()

    # While a refresh lands: a scope that lands updates the status bar and the pane of
    # its domain (coalesced; a pane's rebuild waits four times as long as the last one
    # took, so the keys never wait behind rebuilds); a customer whose refresh is done
    # updates its own overview row (its digest was made by the refresh).

    _reload_pending = False
    _bars_pending = False
    _reload_cost = 0.0
    _customers_pending: set[str] | None = None

    def _data_changed(self, key: CacheKey) -> None:
        # called on the event loop as each scope lands
        screen = self._current_pane()
        if screen is None:
            return
        if key.domain in screen.DOMAINS:
            self._reload_soon()
        elif not self._bars_pending:
            self._bars_pending = True
            self.set_timer(0.5, self._update_bars)

    def _customer_changed(self, profile: str) -> None:
        if self._customers_pending is None:
            self._customers_pending = set()
            self.set_timer(0.25, self._update_customers)
        self._customers_pending.add(profile)

    def _update_customers(self) -> None:
        names, self._customers_pending = self._customers_pending or set(), None
        from btconsole.ui.panes import OverviewScreen

        screen = self._current_pane()
        if isinstance(screen, OverviewScreen):
            screen.update_customers(names)

    def _update_bars(self) -> None:
        self._bars_pending = False
        screen = self._current_pane()
        if screen is not None:
            screen.update_bars()

    def _current_pane(self) -> PaneScreen | None:
        try:
            screen = self.screen
        except ScreenStackError:  # quitting while a refresh lands
            return None
        if isinstance(screen, PaneScreen) and not self._exit and screen.is_running:
            return screen
        return None

    def _reload_soon(self) -> None:
        if not self._reload_pending:
            self._reload_pending = True
            self.set_timer(max(0.25, 4 * self._reload_cost), self._reload_screen)

    def _reload_screen(self) -> None:
        self._reload_pending = False
        screen = self._current_pane()
        if screen is not None:
            started = time.perf_counter()
            screen.reload()
            self._reload_cost = time.perf_counter() - started

    def action_refresh(self) -> None:
        screen = self.screen
        pane = getattr(screen, "PANE", "overview")
        shown = getattr(screen, "REFRESHES", ()) or (pane,)
        self._force(PANE_DOMAINS if pane == "overview" else shown)

    def action_refresh_all(self) -> None:
        self._force(PANE_DOMAINS)

    def _force(self, domains: Iterable[str]) -> None:
        if self.data.offline:
            self.notify("offline: serving the cache only", severity="warning")
            return
        self._start_refresh(list(domains), self.data.profiles(self.scope), force=True)
        self.notify("refreshing…", timeout=2)

    # ------------------------------------------------------------------ keys

    def action_pane(self, name: str) -> None:
        self.switch_mode(name)

    def action_help(self) -> None:
        from btconsole.ui.screens import HelpScreen

        self.push_screen(HelpScreen(self.key_map(), self.key_hint))

    def action_command_line(self) -> None:
        from textual.screen import ModalScreen
        from textual.widgets import Input

        from btconsole.ui.screens import CommandLine

        if isinstance(self.screen, ModalScreen) or isinstance(self.focused, Input):
            raise SkipAction()  # text in an input; help and confirmations keep their keys
        line = CommandLine(self.command_grammar(), self.command_history())
        self.push_screen(line, self._command_entered)

    def command_history(self) -> list[str]:
        """The commands typed in earlier runs and this one, oldest first."""
        if self._history is None:
            self._history = load_history(history_path())
        return list(self._history)

    def _command_entered(self, text: str | None) -> None:
        """A line from the ``:`` prompt: kept in the history, then run."""
        if text and text.strip():
            try:
                self._history = save_history(history_path(), text)
            except OSError as error:  # the history is a convenience: say so, go on
                logging.getLogger(__name__).warning("command history not saved: %s", error)
                self._history = [*self.command_history(), text.strip()]
                if not self._history_warned:
                    self._history_warned = True
                    self.notify(
                        clean(f"command history not saved: {error}"),
                        severity="warning",
                        markup=False,
                    )
        self.run_command(text)

    def key_map(self) -> list[tuple[str, str, str]]:
        """(where, keys, description) for every binding, with the keys in force (the
        config's [keys] table applied): the help screen's content."""
        return [
            (entry.group, keys_in_force(entry, self._keymap), entry.description)
            for entry in registry().values()
            if entry.group in HELP_GROUPS
        ]

    def key_hint(self, binding_id: str, default: str) -> str:
        """How a hint writes the key of ``binding_id``: ``default`` (the hint's own
        wording of the default key, such as ``esc``) unless the config remaps it, then
        the first key it was given."""
        keys = self._keymap.get(binding_id)
        if not keys:
            return default
        return key_label(keys.split(",")[0])

    def command_grammar(self) -> Grammar:
        """What the ``:`` line knows: its verbs, and the names customer and theme take."""
        verbs = (*PANES, "customer", "all", "theme", "help", "quit")
        return Grammar(
            verbs=verbs,
            arguments={
                "customer": tuple(self.config.profiles),
                "theme": tuple(sorted(self.available_themes)),
            },
            aliases={"cust": "customer", "ctx": "customer", "q": "quit"},
        )

    def run_command(self, text: str | None) -> None:
        if not text:
            return
        words = text.strip().lstrip(":").split()
        if not words:
            return
        grammar = self.command_grammar()
        verb, rest = grammar.verb(words[0]), words[1:]
        if verb in PANES:
            self.switch_mode(verb)
        elif verb == "all":
            self.set_scope(None)
        elif verb in ("customer", "theme"):
            name = self._one_name(verb, grammar.arguments[verb], rest)
            if name is not None and verb == "customer":
                self.set_scope(name)
            elif name is not None:
                self.theme = name
        elif verb == "quit":
            self.exit(0)
        elif verb == "help":
            self.action_help()
        else:
            self.notify(
                clean(f"unknown command: {text.strip()} (commands: {' '.join(grammar.verbs)})"),
                severity="error",
                markup=False,
            )

    def _one_name(self, kind: str, names: tuple[str, ...], rest: list[str]) -> str | None:
        """The one name ``rest`` picks, or None after saying which names there are."""
        if not rest:
            self.notify(
                clean(f":{kind} needs a name: {', '.join(names)}"), severity="error", markup=False
            )
            return None
        found = matches(names, rest[0])
        if len(found) == 1:
            return found[0]
        if found:
            message = f"no single {kind} matches {rest[0]!r}: {', '.join(found)}"
        else:
            message = f"no single {kind} matches {rest[0]!r}; {kind}s: {', '.join(names)}"
        self.notify(clean(message), severity="error", markup=False)
        return None

    def palette_commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        commands: list[tuple[str, str, Callable[[], object]]] = []
        for key, pane in PANE_KEYS.items():
            key = self.key_hint(f"app.{pane}", key)
            commands.append((f"Go to {pane}", f"key {key}", partial(self.switch_mode, pane)))
        commands.append(("All customers", ":all", partial(self.set_scope, None)))
        for name, profile in self.config.profiles.items():
            label = f"Customer {profile.display_name}"
            commands.append((label, f":customer {name}", partial(self.set_scope, name)))
        refresh_all = self.key_hint("app.refresh_all", "R")
        commands.append(("Refresh all", refresh_all, self.action_refresh_all))
        for theme in sorted(self.available_themes):
            commands.append((f"Theme {theme}", "", partial(self.run_command, f"theme {theme}")))
        return commands

    def show_finding(self, finding: Finding) -> None:
        """Open the finding's pane, scoped to its customer, at its row."""
        self.run_worker(self._show_finding(finding), group="show-finding", exclusive=True)

    async def _show_finding(self, finding: Finding) -> None:
        if finding.rule.startswith("coverage"):
            # missing data has no row to open: say in full what failed and the fix
            # (the attention list cuts it to its column)
            name = (
                self.config.profiles[finding.profile].display_name
                if (finding.profile in self.config.profiles)
                else finding.profile
            )
            self.notify(
                clean(" ".join(x for x in (finding.title, finding.detail) if x)),
                title=clean(name),
                severity="error",
                markup=False,
                timeout=30,
            )
        if finding.profile in self.config.profiles:
            self.scope = finding.profile
        # awaited: a pane not visited yet is still composing when switch_mode returns
        await self.switch_mode(finding.domain if finding.domain in PANES else "overview")
        screen = self.screen
        if not isinstance(screen, PaneScreen) or not screen.is_mounted:
            return
        screen.reload()
        table = screen.table
        target = finding.resource_id or ""
        if finding.domain == "health" and finding.rule.startswith("event/"):
            # a Service Health event's row (btconsole.ui.render.health_rows)
            target = f"event:{finding.profile}:{finding.rule.removeprefix('event/')}".lower()
        if target and table.select_key(target):
            return
        # not a row of its own (a subscription's compliance, a budget, an anomaly): the
        # first row of its subscription; filtering by an ID no cell shows emptied the table
        wanted = (finding.subscription_id or "").lower()
        for row in table.visible_rows:
            if wanted and _subscription_of(row.payload).lower() == wanted:
                table.select_key(row.key)
                return
        if target:
            # quoted: a name is plain text even with ':' or '>' in it
            name = clean(target.rsplit("/", 1)[-1]).replace('"', "")
            table.set_filter(f'"{name}"')
            if not table.filtered_count:
                table.set_filter("")
        screen.update_bars()

    # ------------------------------------------------------------------ actions

    def audit(self, action: str, profile: str, target: str, result: str) -> None:
        """One line per write action, in the audit log (and the app log)."""
        user = os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
        audit_log.warning(
            "AUDIT action=%s profile=%s target=%s user=%s result=%s",
            action,
            profile,
            target,
            user,
            result,
        )

    async def on_unmount(self) -> None:
        await self.data.close()


def _subscription_of(payload: Any) -> str:
    """The subscription a row is about (records, or spend's (profile, sub, currency))."""
    subscription = getattr(payload, "subscription_id", None)
    if isinstance(subscription, str):
        return subscription
    if isinstance(payload, tuple) and len(payload) == 3 and isinstance(payload[1], str):
        return payload[1]
    return ""
