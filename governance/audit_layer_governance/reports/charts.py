"""Bar charts laid out once as shapes, drawn as SVG (html) and as PDF vector graphics (pdf).

Both renderers draw the same shapes at the same coordinates, so the html and the pdf show the
same charts. Units are points; a chart is WIDTH wide.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from audit_layer_governance.reports.document import BarChart

WIDTH = 480.0
BAR_HEIGHT = 14.0
GAP = 6.0
LABEL_WIDTH = 150.0
VALUE_WIDTH = 70.0
TITLE_HEIGHT = 20.0
FONT_SIZE = 8.0
PALETTE = ("#2b6cb0", "#c05621", "#2f855a", "#b7791f", "#6b46c1", "#c53030", "#2c7a7b", "#4a5568")


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    color: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    text: str
    size: float = FONT_SIZE
    anchor: str = "start"  # start | end
    bold: bool = False


@dataclass(frozen=True)
class Layout:
    width: float
    height: float
    shapes: tuple[Rect | Text, ...]


def _format(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def layout(chart: BarChart) -> Layout:
    shapes: list[Rect | Text] = [Text(0, 14, chart.title, 11, bold=True)]
    top = max(chart.values, default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    y = TITLE_HEIGHT
    for i, (label, value) in enumerate(zip(chart.labels, chart.values, strict=True)):
        shown = label if len(label) <= 28 else label[:27] + "…"
        shapes.append(Text(LABEL_WIDTH - 6, y + BAR_HEIGHT - 4, shown, anchor="end"))
        shapes.append(Rect(LABEL_WIDTH, y, max(span * value / top, 0.5 if value else 0), BAR_HEIGHT,
                           chart.colors[i] if i < len(chart.colors) else PALETTE[i % len(PALETTE)]))
        shapes.append(Text(LABEL_WIDTH + span * value / top + 4, y + BAR_HEIGHT - 4, f"{_format(value)}"))
        y += BAR_HEIGHT + GAP
    if not chart.labels:
        shapes.append(Text(LABEL_WIDTH, y + BAR_HEIGHT - 4, f"no {chart.unit} in this period"))
        y += BAR_HEIGHT + GAP
    return Layout(WIDTH, y + 4, tuple(shapes))


def to_svg(chart: BarChart) -> str:
    lay = layout(chart)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{lay.width:.0f}" '
             f'height="{lay.height:.0f}" viewBox="0 0 {lay.width:.1f} {lay.height:.1f}" role="img" '
             f'aria-label="{escape(chart.title)}">']
    for shape in lay.shapes:
        if isinstance(shape, Rect):
            parts.append(f'<rect x="{shape.x:.1f}" y="{shape.y:.1f}" width="{shape.w:.1f}" height="{shape.h:.1f}" '
                         f'fill="{shape.color}"/>')
        else:
            weight = ' font-weight="bold"' if shape.bold else ""
            parts.append(f'<text x="{shape.x:.1f}" y="{shape.y:.1f}" font-size="{shape.size:.0f}" '
                         f'font-family="Noto Sans, Helvetica, Arial, sans-serif" text-anchor="{shape.anchor}"{weight}>'
                         f"{escape(shape.text)}</text>")
    parts.append("</svg>")
    return "".join(parts)
