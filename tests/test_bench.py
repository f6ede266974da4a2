"""The benchmark harness in quick mode, so it cannot rot (no timing is asserted)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from btconsole import bench

FIGURES = {
    "console_refresh_wall",
    "console_refresh_cpu",
    "console_refresh_cpu_console",
    "console_refresh_wall_ratio",
    "console_refresh_cpu_ratio",
    "console_refresh_keys",
    "console_refresh_rss",
    "console_refresh_child_rss",
    "first_paint",
    "start_quit_wall",
    "check_offline",
    "start_quit_cpu",
    "check_cpu",
    "refresh_cpu",
    "refresh_cpu_per_request",
    "baseline_cpu",
    "refresh_wall",
    "refresh_requests",
    "refresh_floor",
    "refresh_floor_ratio",
    "refresh_latency_floor",
    "refresh_emulator_cpu",
    "refresh_shared_cpu_floor",
    "single_wall",
    "single_rss",
    "single_floor",
    "single_ratio",
    "refresh_rss",
    "refresh_sdk_import",
    "baseline_wall",
    "baseline_requests",
    "speedup",
    "table_filter",
    "table_filter_frame",
    "table_page_down",
    "table_sort",
    "table_set_rows",
    "overview_rss",
    "arc_rss",
    "arc_switch",
    "refresh_digests",
    "empty_paint",
    "empty_quit",
    "first_paint_fork",
    "first_paint_ratio",
    "start_quit_ratio",
    "arc_filter_frame",
}


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_quick_run_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert bench.main(["--quick", "--output-dir", str(out), "--work-dir", str(tmp_path / "w")]) == 0

    results = json.loads((out / "bench-results.json").read_text(encoding="utf-8"))
    assert results["meta"]["quick"] is True
    assert results["meta"]["size"] == "small"
    figures = {f["key"]: f for f in results["figures"]}
    assert set(figures) == FIGURES
    for key, figure in figures.items():
        assert figure["values"], key
        for value in [*figure["values"], figure["median"], figure["min"], figure["max"]]:
            assert isinstance(value, (int, float)) and math.isfinite(value), key
        assert figure["runs"] == len(figure["values"])
    assert figures["refresh_requests"]["median"] > 0
    assert figures["arc_rss"]["note"]  # how many rows the Arc pane showed
    assert results["raw"]["cold_refresh"][0]["failed"] == 0
    # the refresh leaves every customer's digest, which the warm start then reads
    assert (
        results["raw"]["cold_refresh"][0]["digests_made"]
        == results["raw"]["cold_refresh"][0]["profiles"]
    )
    assert results["raw"]["warm_start"][0]["azure_imported"] is False

    report = (out / "performance.md").read_text(encoding="utf-8")
    assert "| figure | target | median | min | max | runs |" in report
    assert "python -m btconsole.bench --quick" in report
    for figure in figures.values():
        assert figure["label"] in report
    assert bench.ANALYSIS_MARKER in report

    (out / "performance.md").unlink()
    assert bench.main(["--render-only", "--output-dir", str(out)]) == 0
    assert (out / "performance.md").read_text(encoding="utf-8") == report


def test_rewriting_the_report_keeps_the_hand_written_analysis(tmp_path: Path) -> None:
    figure = bench.Figure("x", "1. Section", "a figure", "s", [0.5, 0.7, 0.6], "<= 0.6 s", 0.6)
    results = {
        "meta": {
            "command": "python -m btconsole.bench",
            "started_at": "now",
            "cpus": 2,
            "platform": "test",
            "python": "3",
            "size": "huge",
            "seed": 1,
            "runs": 3,
            "warmup": 1,
            "baseline_runs": 1,
            "latency_ms": 30,
            "load_before": [1.0, 1.0, 1.0],
        },
        "figures": [figure.as_json()],
        "raw": {},
    }
    report, _ = bench.write_outputs(results, tmp_path)
    text = report.read_text(encoding="utf-8")
    assert "| a figure | <= 0.6 s | 0.600 s | 0.500 s | 0.700 s | 3 | met |" in text
    report.write_text(text + "\n## Analysis\n\nWhy it is slow.\n", encoding="utf-8")
    figure.values = [0.9]
    results["figures"] = [figure.as_json()]
    bench.write_outputs(results, tmp_path)
    text = report.read_text(encoding="utf-8")
    assert "Why it is slow." in text
    assert "**missed** by 0.300 s" in text
    assert text.count(bench.ANALYSIS_MARKER) == 1


def test_refresh_floor_is_the_largest_of_latency_client_cpu_and_shared_cpu() -> None:
    run = {"requests": 1000, "concurrency": 10, "cpu_s": 2.0, "emulator_cpu_s": 1.0}
    assert bench.refresh_floor(run, 0.03, 2) == 3.0  # latency: 1000 x 30 ms / 10
    assert bench.refresh_floor({**run, "cpu_s": 4.0}, 0.03, 2) == 4.0  # the client's CPU
    shared = {**run, "cpu_s": 2.5, "emulator_cpu_s": 5.5, "concurrency": 100}
    assert bench.refresh_floor(shared, 0.03, 2) == 4.0  # (2.5 + 5.5) / 2 cores
