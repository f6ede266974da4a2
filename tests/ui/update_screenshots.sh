#!/usr/bin/env bash
# Regenerate the UI snapshots and copy the documented ones into docs/screenshots
# (docs/usage.md, "Screenshots" and "Themes"). Run from the repository's top.
set -euo pipefail
.venv/bin/pytest -q tests/ui/test_app_snapshots.py tests/ui/test_themes_snapshots.py \
    tests/ui/test_app_cmdline.py --snapshot-update
s=tests/ui/__snapshots__/test_app_snapshots
for n in overview arc circuits policy spend health arc-details circuit-details help; do
  cp "$s/test_screen[$n-80x24].svg" "docs/screenshots/$n-80x24.svg"
done
cp "$s/test_screen[overview-160x48].svg" docs/screenshots/overview-160x48.svg
cp "$s/test_screen[circuits-120x40].svg" docs/screenshots/circuits-120x40.svg
cp "$s/test_screen[arc-200x50].svg" docs/screenshots/arc-200x50.svg
cp "$s/test_screen[health-200x50].svg" docs/screenshots/health-200x50.svg
c=tests/ui/__snapshots__/test_app_cmdline
cp "$c/test_snapshot[_ambiguous_name].svg" docs/screenshots/command-line-80x24.svg
cp "$c/test_snapshot[_portal_link].svg" docs/screenshots/portal-link-80x24.svg
t=tests/ui/__snapshots__/test_themes_snapshots
for theme in bt-light high-contrast monochrome; do
  cp "$t/test_overview[$theme-customers].svg" "docs/screenshots/theme-$theme.svg"
done
cp "$t/test_overview[NO_COLOR-customers].svg" docs/screenshots/theme-no-color.svg
cp "$t/test_overview[bt-attention].svg" docs/screenshots/theme-bt-attention-focused.svg
