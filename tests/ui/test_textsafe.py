"""textsafe: hostile Azure text becomes one plain, printable, width-bounded line."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from btconsole.ui.textsafe import ELLIPSIS, clean, fit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain-vm-01", "plain-vm-01"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("\x1b[38;2;255;0;0mtruecolor\x1b[m", "truecolor"),
        ("a\x1b]52;c;ZXZpbCBjbGlwYm9hcmQ=\x07b", "ab"),  # OSC 52 clipboard write
        ("a\x1b]52;c;ZXZpbA==\x1b\\b", "ab"),  # ... terminated by ST
        ("\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8
        ("\x1b]0;set title", ""),  # unterminated OSC swallows the rest
        ("\x1bPq#0;2;0;0;0\x1b\\x", "x"),  # DCS (sixel)
        ("\x1b_apc\x1b\\y", "y"),
        ("\x9b31mc1csi", "c1csi"),  # 8-bit CSI
        ("\x9d0;title\x9cz", "z"),  # 8-bit OSC ... ST
        ("\x1bcreset", "reset"),  # RIS
        ("\x1b(0box", "box"),  # charset designation
        ("bell\x07\x08\x7f\x00", "bell"),
        ("two\nlines\r\tand tab", "two lines  and tab"),
        ("para\u2028sep\u2029", "para sep "),
        ("[bold red]markup[/]", "[bold red]markup[/]"),  # markup is just text
        ("[link=https://x]y[/link]", "[link=https://x]y[/link]"),
    ],
)
def test_clean_strips_controls_and_escapes(raw: str, expected: str) -> None:
    assert clean(raw) == expected


@pytest.mark.parametrize(
    "control",
    ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"],
)
def test_clean_removes_bidi_embedding_override_and_isolate(control: str) -> None:
    assert clean(f"admin{control}txt.exe") == "admintxt.exe"


def test_clean_removes_invisible_format_marks_but_keeps_joiners() -> None:
    assert clean("a\u200bb\ufeffc\u200fd\u200ee\u061cf") == "abcdef"
    persian = "می\u200cخواهم"  # ZWNJ is part of the word
    assert clean(persian) == persian
    family = "👨\u200d👩\u200d👧"
    assert clean(family) == family


@pytest.mark.parametrize(
    "text",
    ["שרת-ייצור", "خادم-الإنتاج", "生产服务器", "サーバー", "서버", "café", "e\u0301", "nb\xa0sp"],
)
def test_clean_keeps_ordinary_unicode(text: str) -> None:
    assert clean(text) == text


def test_clean_non_strings() -> None:
    assert clean(None) == ""
    assert clean(42) == "42"
    assert clean(3.5) == "3.5"


def test_clean_result_is_printable_for_every_control() -> None:
    every = "".join(chr(c) for c in range(0, 0xA0)) + "\u202e\u2066\ud800"
    result = clean(every)
    assert all(ch.isprintable() or ch == " " for ch in result)
    assert "\x1b" not in result


def test_fit_leaves_short_text_alone() -> None:
    assert fit("abc", 3) == "abc"
    assert fit("abc", 10) == "abc"  # never pads
    assert fit("", 5) == ""


def test_fit_truncates_with_ellipsis() -> None:
    assert fit("abcdef", 4) == "abc" + ELLIPSIS
    assert fit("abcdef", 1) == ELLIPSIS
    assert fit("abcdef", 0) == ""
    assert fit("abcdef", -3) == ""


def test_fit_is_cell_aware_for_wide_characters() -> None:
    text = "生产服务器"  # 10 cells
    assert cell_len(text) == 10
    assert fit(text, 10) == text
    assert fit(text, 5) == "生产" + ELLIPSIS  # 4 + 1 cells
    assert fit(text, 6) == "生产" + ELLIPSIS  # the 3rd character would straddle
    for width in range(12):
        assert cell_len(fit(text, width)) <= width


def test_fit_keeps_combining_marks_with_their_base() -> None:
    assert fit("e\u0301e\u0301e\u0301", 2) == "e\u0301" + ELLIPSIS


def test_fit_handles_very_long_names() -> None:
    name = "x" * 10_000
    fitted = fit(name, 30)
    assert fitted == "x" * 29 + ELLIPSIS
    assert cell_len(fitted) == 30
    assert cell_len(fit(clean("中" * 10_000), 31)) <= 31


def test_fit_in_the_middle_keeps_the_start_and_the_end_that_tell_names_apart() -> None:
    assert fit("er-contr-frankfurt-001", 20, "middle") == "er-con" + ELLIPSIS + "frankfurt-001"
    assert fit("er-contr-frankfurt-003", 20, "middle") == "er-con" + ELLIPSIS + "frankfurt-003"
    # an agent version keeps its lag
    assert fit("1.47.02866.1896 (-5)", 14, "middle") == "1.47" + ELLIPSIS + "1896 (-5)"
    assert fit("abcdef", 3, "middle") == "a" + ELLIPSIS + "f"
    assert fit("abcdef", 2, "middle") == "a" + ELLIPSIS  # no room for an end: cut at the end
    assert fit("abcdef", 6, "middle") == "abcdef"
    assert fit("abcdef", 0, "middle") == ""


def test_fit_in_the_middle_is_cell_aware() -> None:
    text = "日本語のテキストです"  # 10 wide characters, 20 cells
    cut = fit(text, 9, "middle")
    assert cell_len(cut) <= 9
    assert cut.startswith("日") and cut.endswith("です") and ELLIPSIS in cut
    # a combining mark never starts the kept end, nor leaves its base behind
    accented = "e\u0301" * 10  # ten "é" of two code points each, ten cells
    cut = fit(accented, 7, "middle")
    assert cell_len(cut) == 7
    assert cut.startswith("e\u0301e\u0301") and cut.endswith("e\u0301")
    tail = cut.split(ELLIPSIS)[1]
    assert tail[0] == "e"
