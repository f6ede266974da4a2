"""Themes are data: TOML files, shipped in ``themes/`` and added by users.

Shipped themes live in the package (``btconsole/themes`` inside a wheel, ``themes/``
in a source checkout). Users add ``*.toml`` files to ``~/.config/btconsole/themes/``.
``NO_COLOR`` selects ``monochrome``. A theme file that cannot be read or is invalid
is reported once (as a problem string the app shows as a notification) and the app
falls back to ``bt``.

Readable in any theme: :func:`readable` gives a style whose text has at least
:data:`MIN_CONTRAST` (WCAG 2) against its background, in 24-bit colour and in the 256
colours a terminal without truecolor shows; the table and the status bar pass their
resolved styles through it, so a user's theme cannot draw text its background hides.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.color import Color, ColorSystem
from rich.style import Style
from textual.theme import Theme

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_THEME = "bt"
NO_COLOR_THEME = "monochrome"
COLOUR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "success",
    "warning",
    "error",
)
MIN_CONTRAST = 4.5  # WCAG 2 AA for text
_BLACK = Color.from_rgb(0, 0, 0)
_WHITE = Color.from_rgb(255, 255, 255)
_HEX = re.compile(r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")


def shipped_theme_dir() -> Path:
    """Where the shipped themes are: inside the package, else the source checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "themes", package.parent / "themes"):
        if candidate.is_dir():
            return candidate
    return package / "themes"


def user_theme_dir() -> Path:
    from platformdirs import user_config_path

    return user_config_path("btconsole") / "themes"


class ThemeFileError(ValueError):
    """A theme file is not usable; the message names the file and the problem."""


def parse_theme(text: str, path: Path) -> Theme:
    """A Textual theme from the text of a theme file.

    Raises:
        ThemeFileError: bad TOML, missing ``name``/``primary``, bad colours, unknown keys.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"{path}: invalid TOML: {exc}") from None
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ThemeFileError(f"{path}: name must be lower-case letters, digits and '-'")
    if "primary" not in data:
        raise ThemeFileError(f"{path}: primary: missing (required)")
    colours: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("name",):
            continue
        if key == "dark":
            if not isinstance(value, bool):
                raise ThemeFileError(f"{path}: dark: must be true or false")
            colours["dark"] = value
        elif key == "variables":
            if not isinstance(value, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ThemeFileError(f"{path}: variables: must be a table of strings")
            colours["variables"] = dict(value)
        elif key in COLOUR_KEYS:
            if not isinstance(value, str) or not _HEX.match(value):
                raise ThemeFileError(f"{path}: {key}: {value!r} is not a #RRGGBB colour")
            colours[key] = value
        else:
            raise ThemeFileError(f"{path}: {key}: unknown key")
    return Theme(name=name, **colours)


@dataclass
class ThemeSet:
    """Every theme found, and the problems met while loading them."""

    themes: dict[str, Theme] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def load_themes(*directories: Path) -> ThemeSet:
    """Themes from ``directories`` in order (later ones override earlier ones)."""
    found = ThemeSet()
    for directory in directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = parse_theme(path.read_text(encoding="utf-8"), path)
            except (OSError, UnicodeDecodeError) as exc:
                found.problems.append(f"{path}: cannot read: {exc}")
                continue
            except ThemeFileError as exc:
                found.problems.append(str(exc))
                continue
            found.themes[theme.name] = theme
    return found


def choose_theme(
    requested: str | None, available: Mapping[str, Theme], environ: Mapping[str, str]
) -> tuple[str, str | None]:
    """The theme to use and a problem to report (or None).

    ``NO_COLOR`` (any value) wins; an unknown theme falls back to the default.
    """
    if "NO_COLOR" in environ and NO_COLOR_THEME in available:
        return NO_COLOR_THEME, None
    name = requested or DEFAULT_THEME
    if name in available:
        return name, None
    fallback = (
        DEFAULT_THEME if DEFAULT_THEME in available else next(iter(available), "textual-dark")
    )
    return fallback, f"theme {name!r} not found; using {fallback!r}"


def _luminance(color: Color, system: ColorSystem) -> float:
    shown = color.downgrade(system) if system is not ColorSystem.TRUECOLOR else color
    triplet = shown.get_truecolor()

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = linear(triplet.red), linear(triplet.green), linear(triplet.blue)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(foreground: Color, background: Color) -> float:
    """The WCAG 2 contrast ratio of two colours (1 to 21), the lower of 24-bit colour
    and the 256-colour palette (where two near colours may become one)."""
    ratios = []
    for system in (ColorSystem.TRUECOLOR, ColorSystem.EIGHT_BIT):
        high, low = sorted(
            (_luminance(foreground, system), _luminance(background, system)), reverse=True
        )
        ratios.append((high + 0.05) / (low + 0.05))
    return min(ratios)


def readable(style: Style) -> Style:
    """``style``, with black or white text (whichever shows more) when its own text
    colour has less than :data:`MIN_CONTRAST` against its background."""
    color, background = style.color, style.bgcolor
    if color is None or background is None or color.is_default or background.is_default:
        return style
    if style.reverse:
        color, background = background, color
    if contrast(color, background) >= MIN_CONTRAST:
        return style
    best = max((_BLACK, _WHITE), key=lambda candidate: contrast(candidate, background))
    if style.reverse:
        return style + Style(bgcolor=best)
    return style + Style(color=best)
