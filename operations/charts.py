"""Charts as SVG markup drawn on the server: no script, no inline style, no CDN (pure).

Each chart is an ``<svg role="img">`` with a title; the pages also print the figures in a
table, which is what screen readers and printouts use. Text is escaped.
"""

from __future__ import annotations

from html import escape

PALETTE = ("#2e7d32", "#1565c0", "#ef6c00", "#6a1b9a", "#c62828", "#00838f", "#5d4037", "#455a64")


def dots(value: int) -> str:
    """12.500.000 — the Vietnamese grouping."""
    return f"{value:,}".replace(",", ".")


def bars(
    points: list[tuple[str, int]], *, title: str, unit: str = "₫", width: int = 640, height: int = 200
) -> str:
    """Vertical bars, one per point (a daily series); labels thinned when there are many."""
    top, bottom, left = 22, 26, 6
    peak = max((value for _label, value in points), default=0) or 1
    slot = (width - 2 * left) / max(len(points), 1)
    step = 1 if len(points) <= 14 else max(1, len(points) // 10)
    parts = []
    for index, (label, value) in enumerate(points):
        bar = round((height - top - bottom) * max(value, 0) / peak)
        x = left + index * slot
        parts.append(
            f'<rect x="{x + slot * 0.12:.1f}" y="{height - bottom - bar}" width="{slot * 0.76:.1f}" '
            f'height="{bar}" fill="{PALETTE[0]}">'
            f"<title>{escape(label)}: {dots(value)} {escape(unit)}</title></rect>"
        )
        if index % step == 0:
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{height - 8}" font-size="10" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    return _svg(width, height, title, f"max {dots(peak)} {unit}", parts, baseline=height - bottom)


def hbars(items: list[tuple[str, int]], *, title: str, unit: str = "", width: int = 640) -> str:
    """Horizontal bars, one per category (states, channels, agencies)."""
    row, top, label_width = 24, 24, 210
    height = top + row * max(len(items), 1) + 6
    peak = max((value for _label, value in items), default=0) or 1
    parts = []
    for index, (label, value) in enumerate(items):
        y = top + index * row
        length = round((width - label_width - 90) * max(value, 0) / peak)
        colour = PALETTE[index % len(PALETTE)]
        parts.append(f'<text x="4" y="{y + 15}" font-size="12">{escape(label[:34])}</text>')
        parts.append(
            f'<rect x="{label_width}" y="{y + 3}" width="{length}" height="{row - 8}" fill="{colour}">'
            f"<title>{escape(label)}: {dots(value)} {escape(unit)}</title></rect>"
        )
        parts.append(
            f'<text x="{label_width + length + 6}" y="{y + 15}" font-size="12">'
            f"{dots(value)} {escape(unit)}</text>"
        )
    return _svg(width, height, title, "", parts)


def _svg(
    width: int, height: int, title: str, note: str, parts: list[str], baseline: int | None = None
) -> str:
    axis = (
        f'<line x1="0" y1="{baseline}" x2="{width}" y2="{baseline}" stroke="#888"/>'
        if baseline is not None
        else ""
    )
    heading = escape(title) + (f" — {escape(note)}" if note else "")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<text x="4" y="14" font-size="12" font-weight="bold">{heading}</text>{axis}'
        + "".join(parts)
        + "</svg>"
    )
