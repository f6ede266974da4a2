"""ResourceTable driven through Textual's Pilot in a tiny app."""

from __future__ import annotations

import html
from collections.abc import Sequence

from rich.style import Style
from textual.app import App, ComposeResult
from textual.strip import Strip

from btconsole.ui.table import Column, ResourceTable, Row

COLUMNS = [
    Column("name", "Name", 20, min_width=10, priority=0),
    Column("status", "Status", 12, min_width=10, priority=0),
    Column("cpu", "CPU", 5, align="right", priority=2),
    Column("location", "Location", 12, min_width=8, priority=3),
    Column("fqdn", "FQDN", 30, min_width=16, priority=4),
]


def make_rows(count: int) -> list[Row]:
    statuses = ["Connected", "Disconnected", "Expired"]
    return [
        Row(
            key=f"id-{i}",
            cells=(
                f"vm-{i:03d}",
                statuses[i % 3],
                str(i % 7),
                "westeurope" if i % 2 else "northeurope",
                f"vm-{i:03d}.corp.example.com",
            ),
            level="critical" if i % 3 == 1 else "ok",
            sort_values=(f"vm-{i:03d}", statuses[i % 3], i % 7, None, None),
        )
        for i in range(count)
    ]


class TableApp(App[None]):
    def __init__(self, rows: Sequence[Row], columns: Sequence[Column] = COLUMNS) -> None:
        super().__init__()
        self.rows = list(rows)
        self.columns = list(columns)
        self.selected: list[Row] = []
        self.moved: list[Row | None] = []

    def compose(self) -> ComposeResult:
        yield ResourceTable(self.columns, id="table")

    def on_mount(self) -> None:
        table = self.query_one(ResourceTable)
        table.set_rows(self.rows)
        table.focus()

    def on_resource_table_selected(self, message: ResourceTable.Selected) -> None:
        self.selected.append(message.row)

    def on_resource_table_cursor_moved(self, message: ResourceTable.CursorMoved) -> None:
        self.moved.append(message.row)


def style_at(strip: Strip, x: int) -> Style:
    """The style of the cell at ``x`` in a rendered line."""
    for segment in strip.crop(x, x + 1):
        if segment.text:
            return segment.style or Style()
    raise IndexError(x)


def lines(table: ResourceTable) -> list[str]:
    """What the widget draws, line by line."""
    return [table.render_line(y).text for y in range(table.size.height)]


def screen_text(app: App[None]) -> str:
    """The whole screen as exported, markup-free, with ordinary spaces."""
    return html.unescape(app.export_screenshot()).replace("\xa0", " ")


async def test_rows_render_with_header() -> None:
    app = TableApp(make_rows(100))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(ResourceTable)
        shown = lines(table)
        assert shown[0].split() == ["Name", "Status", "CPU", "Location", "FQDN"]
        assert shown[1].startswith(" vm-000 ")
        assert "vm-022" in shown[23]
        assert table.total_count == table.filtered_count == 100
        assert table.cursor_row is not None and table.cursor_row.key == "id-0"
        assert all(len(line) == 79 for line in shown)  # one column of scrollbar


async def test_header_stays_and_page_down_moves_a_page() -> None:
    app = TableApp(make_rows(100))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(ResourceTable)
        await pilot.press("pagedown")
        await pilot.pause()
        assert table.cursor_index == 23  # 24 lines minus the header
        assert table.scroll_offset.y == 23
        shown = lines(table)
        assert shown[0].split()[0] == "Name"
        assert shown[1].startswith(" vm-023 ")
        assert "Name" in screen_text(app)
        await pilot.press("ctrl+f")
        assert table.cursor_index == 46
        await pilot.press("pageup")
        assert table.cursor_index == 23
        await pilot.press("ctrl+b")
        assert table.cursor_index == 0
        assert table.scroll_offset.y == 0


async def test_cursor_keys_and_cursor_moved_messages() -> None:
    app = TableApp(make_rows(100))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(ResourceTable)
        await pilot.press("down", "j", "j")
        assert table.cursor_index == 3
        await pilot.press("up", "k")
        assert table.cursor_index == 1
        await pilot.press("end")
        assert table.cursor_index == 99
        assert table.scroll_offset.y == 100 - 23
        assert lines(table)[-1].startswith(" vm-099 ")
        await pilot.press("g")
        assert table.cursor_index == 0
        await pilot.press("G")
        assert table.cursor_index == 99
        await pilot.press("home")
        await pilot.pause()
        keys = [row.key if row else None for row in app.moved]
        assert keys[:4] == ["id-0", "id-1", "id-2", "id-3"]
        assert keys[-1] == "id-0"


async def test_cursor_row_is_highlighted() -> None:
    app = TableApp(make_rows(10))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(ResourceTable)
        await pilot.press("down")
        await pilot.pause()
        cursor_style = style_at(table.render_line(2), 2)
        other_style = style_at(table.render_line(3), 2)
        assert cursor_style.bgcolor != other_style.bgcolor


async def test_levels_style_rows_and_cells() -> None:
    rows = [
        Row("a", ("a", "Connected", "1", "x", "y")),
        Row("b", ("b", "Disconnected", "1", "x", "y"), level="critical"),
        Row("c", ("c", "Connected", "1", "x", "y"), cell_levels=(None, "ok", None, None, None)),
        Row("d", ("d", "", "", "", "")),
    ]
    app = TableApp(rows)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("G")  # cursor off the rows we look at
        await pilot.pause()
        table = app.query_one(ResourceTable)
        ok_row, critical_row, ok_cell_row = (table.render_line(y) for y in (1, 2, 3))
        plain = style_at(ok_row, 2).color
        assert style_at(critical_row, 2).color != plain
        assert style_at(critical_row, 2).bold
        status_x = table.render_line(0).text.index("Status")
        assert ok_cell_row.text[status_x:].startswith("Connected")
        assert style_at(ok_row, status_x).color == plain
        assert style_at(ok_cell_row, 2).color == plain
        table.move_cursor(0)
        await pilot.pause()
        assert style_at(table.render_line(3), status_x).color != plain


async def test_enter_posts_selected() -> None:
    app = TableApp(make_rows(10))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert [row.key for row in app.selected] == ["id-2"]


async def test_sort_next_previous_and_reverse() -> None:
    app = TableApp(make_rows(30))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(ResourceTable)
        await pilot.press("greater_than_sign")
        assert (table.sort_key, table.sort_reverse) == ("name", False)
        assert "▲" in lines(table)[0]
        await pilot.press("s")
        await pilot.pause()
        assert (table.sort_key, table.sort_reverse) == ("name", True)
        assert "Name ▼" in lines(table)[0]
        assert table.visible_rows[0].key == "id-29"
        assert table.cursor_row is not None and table.cursor_row.key == "id-0"
        await pilot.press("greater_than_sign", "greater_than_sign")
        assert table.sort_key == "cpu"  # numeric sort_values
        await pilot.pause()
        cpus = [row.cells[2] for row in table.visible_rows]
        assert cpus == sorted(cpus, key=int)
        await pilot.press("less_than_sign")
        assert table.sort_key == "status"
        await pilot.press("less_than_sign", "less_than_sign")
        assert table.sort_key == "fqdn"  # wraps to the last shown column


async def test_sort_by_toggles_and_is_stable_with_none_last() -> None:
    rows = [
        Row("a", ("a", "x", "", "", ""), sort_values=(None, None, 2, None, None)),
        Row("b", ("b", "x", "", "", ""), sort_values=(None, None, None, None, None)),
        Row("c", ("c", "x", "", "", ""), sort_values=(None, None, 10, None, None)),
        Row("d", ("d", "x", "", "", ""), sort_values=(None, None, 2, None, None)),
        Row("e", ("E", "x", "", "", "")),  # no sort_values: its text, "" sorts first
    ]
    app = TableApp(rows)
    async with app.run_test(size=(80, 24)):
        table = app.query_one(ResourceTable)
        table.sort_by("cpu")
        assert [r.key for r in table.visible_rows] == ["a", "d", "c", "e", "b"]
        table.sort_by("cpu")  # same column: toggles
        assert table.sort_reverse
        assert [r.key for r in table.visible_rows] == ["e", "c", "a", "d", "b"]
        table.sort_by("status")  # None (a missing value) sorts last; equal keep their order
        assert [r.key for r in table.visible_rows] == ["e", "a", "b", "c", "d"]
        table.sort_by("status")
        assert [r.key for r in table.visible_rows] == ["e", "a", "b", "c", "d"]
        table.clear_sort()
        assert table.sort_key is None
        assert [r.key for r in table.visible_rows] == ["a", "b", "c", "d", "e"]


async def test_sort_without_sort_values_uses_case_insensitive_text() -> None:
    rows = [
        Row(k, (name, "", "", "", ""))
        for k, name in [("1", "beta"), ("2", "Alpha"), ("3", "alpha"), ("4", "Gamma")]
    ]
    app = TableApp(rows)
    async with app.run_test(size=(80, 24)):
        table = app.query_one(ResourceTable)
        table.sort_by("name")
        assert [r.key for r in table.visible_rows] == ["2", "3", "1", "4"]
        table.sort_by("name")
        assert [r.key for r in table.visible_rows] == ["4", "1", "2", "3"]  # stable


async def test_filter_plain_keyed_and_negated() -> None:
    app = TableApp(make_rows(30))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(ResourceTable)
        table.set_filter("status:disconnected")
        assert table.filtered_count == 10
        assert all(r.cells[1] == "Disconnected" for r in table.visible_rows)
        table.set_filter("!status:disc")
        assert table.filtered_count == 20
        table.set_filter("stat:connected !north")
        assert {r.cells[3] for r in table.visible_rows} == {"westeurope"}
        assert table.filter_text == "stat:connected !north"
        table.set_filter("vm-01")
        assert [r.key for r in table.visible_rows] == [f"id-{i}" for i in range(10, 20)]
        table.set_filter("nothing-like-this")
        await pilot.pause()
        assert table.filtered_count == 0
        assert table.cursor_row is None
        assert "no rows match filter 'nothing-like-this'" in lines(table)[1]
        assert app.moved[-1] is None
        table.set_filter("")
        assert table.filtered_count == 30


async def test_filter_keeps_cursor_on_its_row_and_sort_keeps_filter() -> None:
    app = TableApp(make_rows(30))
    async with app.run_test(size=(80, 24)):
        table = app.query_one(ResourceTable)
        assert table.select_key("id-13")
        table.set_filter("vm-01")
        assert table.cursor_row is not None and table.cursor_row.key == "id-13"
        table.set_filter("vm-02")
        assert table.cursor_row is not None and table.cursor_row.key == "id-20"
        table.sort_by("name", reverse=True)
        assert [r.key for r in table.visible_rows][:2] == ["id-29", "id-28"]
        assert table.cursor_row is not None and table.cursor_row.key == "id-20"


async def test_set_rows_keeps_cursor_key_and_reapplies_filter_and_sort() -> None:
    app = TableApp(make_rows(30))
    async with app.run_test(size=(80, 24)):
        table = app.query_one(ResourceTable)
        table.sort_by("name", reverse=True)
        table.set_filter("status:expired")
        table.select_key("id-8")
        table.set_rows(make_rows(60))
        assert table.total_count == 60
        assert table.filtered_count == 20
        assert table.visible_rows[0].key == "id-59"
        assert table.cursor_row is not None and table.cursor_row.key == "id-8"
        # the cursor row goes away: its successor takes the position
        position = table.cursor_index
        table.set_rows([r for r in make_rows(60) if r.key != "id-8"])
        assert table.cursor_index == position
        assert table.cursor_row is not None and table.cursor_row.key == "id-5"


async def test_empty_table() -> None:
    app = TableApp([])
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(ResourceTable)
        await pilot.pause()
        assert "no rows" in lines(table)[1]
        await pilot.press("down", "pagedown", "end", "enter", "greater_than_sign")
        assert app.selected == []
        assert table.cursor_row is None


async def test_hostile_text_is_shown_literally_and_layout_holds() -> None:
    rows = [
        Row("m", ("[bold red]markup[/]", "[link=x]y", "1", "x", "y")),
        Row("e", ("\x1b[31mred\x1b[0m\x1b]52;c;ZXZpbA==\x07", "ok", "1", "x", "y")),
        Row("b", ("abc\u202eexe.txt", "שרת-ייצור", "1", "生产服务器生产服务器生产服务器", "y")),
        Row("l", ("n" * 10_000, "s" * 10_000, "1", "x", "y")),
    ]
    app = TableApp(rows)
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(ResourceTable)
        shown = lines(table)
        assert "[bold red]markup[/]" in shown[1]
        assert "[link=x]y" in shown[1]
        assert shown[2].startswith(" red ")
        assert "abcexe.txt" in shown[3]
        assert "שרת-ייצור" in shown[3]
        assert "…" in shown[4]
        for line in shown:
            assert "\x1b" not in line
            assert "\u202e" not in line
        for y in range(1, 5):
            assert table.render_line(y).cell_length == table.scrollable_content_region.width == 120
        text = screen_text(app)
        assert "[bold red]markup[/]" in text
        assert "\x1b" not in text


async def test_narrow_terminal_drops_low_priority_columns() -> None:
    app = TableApp(make_rows(10))
    async with app.run_test(size=(50, 24)) as pilot:
        await pilot.pause()
        table = app.query_one(ResourceTable)
        header = lines(table)[0].split()
        assert header == ["Name", "Status", "CPU", "Location"]
        await pilot.resize_terminal(26, 24)  # 25 cells: CPU's 4 + a gap no longer fit
        await pilot.pause()
        assert lines(table)[0].split() == ["Name", "Status"]
        await pilot.resize_terminal(160, 24)
        await pilot.pause()
        assert lines(table)[0].split() == ["Name", "Status", "CPU", "Location", "FQDN"]


async def test_set_columns_replaces_layout_and_drops_missing_sort() -> None:
    app = TableApp(make_rows(10))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(ResourceTable)
        table.sort_by("fqdn")
        table.set_columns(COLUMNS[:2])
        await pilot.pause()
        assert table.sort_key is None
        assert lines(table)[0].split() == ["Name", "Status"]


async def test_mouse_click_moves_cursor_selects_and_sorts() -> None:
    app = TableApp(make_rows(30))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(ResourceTable)
        await pilot.click(ResourceTable, offset=(3, 4))
        assert table.cursor_index == 3
        await pilot.click(ResourceTable, offset=(3, 4))
        await pilot.pause()
        assert [row.key for row in app.selected] == ["id-3"]
        status_x = lines(table)[0].index("Status")
        await pilot.click(ResourceTable, offset=(status_x, 0))
        assert table.sort_key == "status"
        await pilot.click(ResourceTable, offset=(status_x, 0))
        assert table.sort_reverse
