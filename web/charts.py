"""Charts drawn on the server as inline SVG: no script, no CDN. Each chart is an image with a
title and a description carrying the same numbers, and the page shows them in a table too."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup, escape

WIDTH = 640
LABEL_WIDTH = 190
VALUE_WIDTH = 70
ROW_HEIGHT = 26
BAR_HEIGHT = 16
BAR_COLOR = "#b4232a"
# Colours of the stacked segments, told apart by lightness too (readable in greyscale).
PALETTE = ("#b4232a", "#e0a33a", "#1d7a3a", "#5b6470", "#8fb8de")

Getter = str | Callable[[Any], Any]


def _get(row: Any, getter: Getter) -> Any:
    if callable(getter):
        return getter(row)
    if isinstance(row, dict):
        return row.get(getter)
    return getattr(row, getter)


def _chart_id(title: str, labels: Sequence[str]) -> str:
    digest = hashlib.sha1("\x1f".join([title, *labels]).encode()).hexdigest()[:10]
    return f"chart-{digest}"


def _format(value: float | None, percent: bool, digits: int) -> str:
    if value is None:
        return "—"
    if percent:
        return f"{value * 100:.{digits}f}%"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.{digits}f}"


def _text_width(text: str) -> float:
    """Rough width at 13px: CJK characters are square, Latin ones about half as wide."""
    return sum(13 if ord(ch) > 0x2E80 else 7.5 for ch in text)


def _svg(chart_id: str, height: int, title: str, desc: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" id="{chart_id}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" font-size="13" '  # at most WIDTH wide: svg.chart in app.css
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>' + "".join(body) + "</svg>"
    )


def _label(y: int, text: str) -> str:
    return (
        f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT - 3}" text-anchor="end" '
        f'fill="#1b1f24">{escape(text)}</text>'
    )


def bar_chart(
    rows: Sequence[Any],
    value: Getter,
    label: Getter,
    max_value: float | None = None,
    *,
    title: str = "",
    percent: bool = False,
    digits: int = 1,
) -> Markup:
    """Horizontal bars, one per row, with its label on the left and its value on the right.
    `value` and `label` are attribute names (usable from a template) or functions; a missing
    value (None) draws no bar and reads "—"."""
    labels = [str(_get(row, label)) for row in rows]
    values = [_get(row, value) for row in rows]
    top = max_value or max((v for v in values if v is not None), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    body = []
    for index, (text, number) in enumerate(zip(labels, values, strict=True)):
        y = 6 + index * ROW_HEIGHT
        shown = _format(number, percent, digits)
        length = 0 if number is None else round(span * min(number / top, 1), 1)
        body.append(_label(y, text))
        body.append(
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length}" height="{BAR_HEIGHT}" '
            f'fill="{BAR_COLOR}"><title>{escape(text)}: {shown}</title></rect>'
        )
        body.append(
            f'<text x="{LABEL_WIDTH + length + 6}" y="{y + BAR_HEIGHT - 3}" '
            f'fill="#1b1f24">{shown}</text>'
        )
    desc = "; ".join(
        f"{text}: {_format(number, percent, digits)}"
        for text, number in zip(labels, values, strict=True)
    )
    height = 12 + len(rows) * ROW_HEIGHT
    return _svg(_chart_id(title, labels), height, title, desc, body)


def stacked_bar_chart(
    rows: Sequence[Any],
    parts: Getter,
    label: Getter,
    segments: Sequence[tuple[str, str]],
    *,
    title: str = "",
) -> Markup:
    """One bar per row split into segments, e.g. cases by status. `parts` gives each row's
    {key: count}; `segments` lists (key, legend text) in drawing order. Bars share one scale."""
    labels = [str(_get(row, label)) for row in rows]
    counts = [_get(row, parts) or {} for row in rows]
    top = max((sum(c.get(key, 0) for key, _ in segments) for c in counts), default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    body = []
    legend_y = 14
    x = 8.0
    for (_key, text), color in zip(segments, PALETTE, strict=False):
        body.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{color}"/>')
        body.append(f'<text x="{x + 16}" y="{legend_y}" fill="#1b1f24">{escape(text)}</text>')
        x += 34 + _text_width(text)
    for index, (text, count) in enumerate(zip(labels, counts, strict=True)):
        y = 28 + index * ROW_HEIGHT
        body.append(_label(y, text))
        x_at = float(LABEL_WIDTH)
        for (key, name), color in zip(segments, PALETTE, strict=False):
            number = count.get(key, 0)
            if not number:
                continue
            length = round(span * number / top, 1)
            body.append(
                f'<rect x="{x_at}" y="{y}" width="{length}" height="{BAR_HEIGHT}" '
                f'fill="{color}"><title>{escape(text)} · {escape(name)}: {number}</title></rect>'
            )
            x_at += length
        total = sum(count.get(key, 0) for key, _ in segments)
        body.append(f'<text x="{x_at + 6}" y="{y + BAR_HEIGHT - 3}" fill="#1b1f24">{total}</text>')
    desc = "; ".join(
        f"{text}: " + ", ".join(f"{name} {count.get(key, 0)}" for key, name in segments)
        for text, count in zip(labels, counts, strict=True)
    )
    height = 34 + len(rows) * ROW_HEIGHT
    return _svg(_chart_id(title, labels), height, title, desc, body)
