"""``btconsole check``: the daily check, headless, with an exit code for cron.

The check refreshes the cache through the :class:`~btconsole.engine.Engine` (or, with
``offline``, only reads it), runs :func:`btconsole.health.findings_for` per customer,
compares the findings with the previous check of the same set of profiles and renders
a report as text, Markdown or JSON (schema :data:`SCHEMA`, ``docs/check-schema.json``).

Exit codes (``docs/checks.md``): 0 all clear, 1 warnings, 2 critical, 3 the data was
incomplete or older than ``max_age``. The code is the *highest* that applies, so 3
wins over 2: a run that could not get all its data never reports a verdict as if it
had, and the findings it did get are still in the report. ``info`` findings do not
change the code.

Text from Azure is data: the text renderer strips terminal control characters, the
Markdown renderer escapes markup, the JSON renderer escapes C1 and bidi controls.

One module per job: :mod:`~btconsole.checks.options` (formats, exit codes, the
clock, the profiles chosen), :mod:`~btconsole.checks.snapshot` (refresh, then read the
cached data with its coverage and problems), :mod:`~btconsole.checks.report` (findings
per customer and the changes), :mod:`~btconsole.checks.state` (the saved state for the
next diff), :mod:`~btconsole.checks.format` (what the renderers share),
:mod:`~btconsole.checks.text`, :mod:`~btconsole.checks.markdown` and
:mod:`~btconsole.checks.jsonreport` (the three formats), :mod:`~btconsole.checks.run`
(the command). This package re-exports their public names.

Nothing here imports Textual or an Azure SDK (the engine imports the SDK only when a
refresh runs); :mod:`btconsole.export` reuses the data loading.
"""

from __future__ import annotations

from btconsole.checks.format import (
    Style,
    clean,
    counts_text,
    domain_label,
    finding_where,
    format_age,
    iso_time,
    json_text,
    md_code,
    md_escape,
    money_text,
    since_text,
    summary_line,
    use_color,
    utc_text,
)
from btconsole.checks.jsonreport import (
    coverage_json,
    finding_json,
    problem_json,
    report_json,
)
from btconsole.checks.markdown import (
    render_markdown,
)
from btconsole.checks.options import (
    DEFAULT_TIMEOUT,
    DOMAINS,
    EXIT_ALL_CLEAR,
    EXIT_CRITICAL,
    EXIT_INCOMPLETE,
    EXIT_WARNING,
    FORMATS,
    SCHEMA,
    STATE_SCHEMA,
    TODAY_ENV,
    Clock,
    clock,
    parse_max_age,
    select_profiles,
)
from btconsole.checks.report import (
    Changes,
    CheckReport,
    CustomerReport,
    build_report,
)
from btconsole.checks.run import (
    CheckOptions,
    check_output_path,
    parse_timeout,
    quiet_logging,
    render,
    run_check,
    write_output,
)
from btconsole.checks.snapshot import (
    DataProblem,
    ProfileData,
    Snapshot,
    load_snapshot,
    read_profile,
    refresh,
)
from btconsole.checks.state import (
    PreviousCheck,
    load_previous,
    save_state,
    state_dir,
    state_path,
)
from btconsole.checks.text import (
    customer_state,
    render_text,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "DOMAINS",
    "EXIT_ALL_CLEAR",
    "EXIT_CRITICAL",
    "EXIT_INCOMPLETE",
    "EXIT_WARNING",
    "FORMATS",
    "SCHEMA",
    "STATE_SCHEMA",
    "TODAY_ENV",
    "Changes",
    "CheckOptions",
    "CheckReport",
    "Clock",
    "CustomerReport",
    "DataProblem",
    "PreviousCheck",
    "ProfileData",
    "Snapshot",
    "Style",
    "build_report",
    "check_output_path",
    "clean",
    "clock",
    "counts_text",
    "coverage_json",
    "customer_state",
    "domain_label",
    "finding_json",
    "finding_where",
    "format_age",
    "iso_time",
    "json_text",
    "load_previous",
    "load_snapshot",
    "md_code",
    "md_escape",
    "money_text",
    "parse_max_age",
    "parse_timeout",
    "problem_json",
    "quiet_logging",
    "read_profile",
    "refresh",
    "render",
    "render_markdown",
    "render_text",
    "report_json",
    "run_check",
    "save_state",
    "select_profiles",
    "since_text",
    "state_dir",
    "state_path",
    "summary_line",
    "use_color",
    "utc_text",
    "write_output",
]
