"""A report document in json, csv, html or pdf. Every format carries the same figures; html
and pdf draw the same charts (charts.py)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from html import escape

from fpdf import FPDF, FontFace

from audit_layer_governance.reports import charts
from audit_layer_governance.reports.document import BarChart, KeyValues, Report, TableBlock

FORMATS = ("json", "csv", "html", "pdf")


def _default(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


def to_json(report: Report) -> bytes:
    body = {"report": report.kind, "title": report.title, "generated_at": report.generated_at,
            "parameters": report.parameters, **report.data}
    return (json.dumps(body, indent=2, default=_default, ensure_ascii=False) + "\n").encode()


def to_csv(report: Report) -> bytes:
    """Long format: section, item, column, value (one figure per line, easy to load anywhere)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "item", "column", "value"])
    for name, value in report.parameters.items():
        writer.writerow(["parameters", name, "", value])
    for block in report.blocks:
        if isinstance(block, KeyValues):
            for key, value in block.items:
                writer.writerow([block.title, key, "", value])
        elif isinstance(block, TableBlock):
            for row in block.rows:
                for column, value in zip(block.columns[1:], row[1:], strict=True):
                    writer.writerow([block.title, row[0], column, value])
        else:
            for label, number in zip(block.labels, block.values, strict=True):
                writer.writerow([block.title, label, block.unit, number])
    return out.getvalue().encode()


_CSS = """body{font-family:Helvetica,Arial,sans-serif;margin:2em auto;max-width:60em;color:#1a202c}
h1{font-size:1.5em;margin-bottom:0}p.sub{color:#4a5568;margin-top:.2em}h2{font-size:1.1em;margin-top:1.6em;
border-bottom:1px solid #cbd5e0}table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #e2e8f0;
padding:.25em .6em;text-align:left;vertical-align:top}th{background:#edf2f7}td.k{color:#4a5568;width:16em}
.chart{display:block;margin:.6em 0}code{font-size:.85em;word-break:break-all}"""


def to_html(report: Report) -> bytes:
    parts = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(report.title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{escape(report.title)}</h1>"
             f"<p class=\"sub\">{escape(report.subtitle)} · generated {escape(report.generated_at)}</p>"]
    for block in report.blocks:
        if isinstance(block, KeyValues):
            parts.append(f"<h2>{escape(block.title)}</h2><table>")
            parts.extend(f"<tr><td class=\"k\">{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in block.items)
            parts.append("</table>")
        elif isinstance(block, TableBlock):
            parts.append(f"<h2>{escape(block.title)}</h2><table><tr>")
            parts.extend(f"<th>{escape(c)}</th>" for c in block.columns)
            parts.append("</tr>")
            for row in block.rows:
                parts.append("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>")
            parts.append("</table>")
        else:
            parts.append(charts.to_svg(block))
    parts.append("</body></html>\n")
    return "".join(parts).encode()


def _latin1(text: str) -> str:
    # the PDF core fonts are Latin-1; anything else is shown as '?', never dropped silently
    return text.replace("…", "...").replace("·", "-").encode("latin-1", "replace").decode("latin-1")


class _Pdf(FPDF):
    def __init__(self, report: Report) -> None:
        super().__init__(unit="pt", format="A4")
        self.report = report
        self.set_auto_page_break(True, margin=40)
        self.set_margins(40, 40, 40)

    def footer(self) -> None:
        self.set_y(-30)
        self.set_font("Helvetica", size=7)
        self.set_text_color(100, 100, 100)
        self.cell(0, 10, _latin1(f"{self.report.title} - page {self.page_no()}"), align="C")


def _draw_chart(pdf: FPDF, chart: BarChart) -> None:
    lay = charts.layout(chart)
    if pdf.get_y() + lay.height > pdf.h - 50:
        pdf.add_page()
    x0, y0 = pdf.l_margin, pdf.get_y() + 6
    for shape in lay.shapes:
        if isinstance(shape, charts.Rect):
            r, g, b = (int(shape.color[i:i + 2], 16) for i in (1, 3, 5))
            pdf.set_fill_color(r, g, b)
            pdf.rect(x0 + shape.x, y0 + shape.y, shape.w, shape.h, style="F")
        else:
            pdf.set_font("Helvetica", "B" if shape.bold else "", shape.size)
            text = _latin1(shape.text)
            x = x0 + shape.x - (pdf.get_string_width(text) if shape.anchor == "end" else 0)
            pdf.text(x, y0 + shape.y, text)
    pdf.set_fill_color(255, 255, 255)  # fpdf keeps the last fill colour for what follows
    pdf.set_y(y0 + lay.height + 4)


def _heading(pdf: FPDF, title: str) -> None:
    pdf.ln(8)
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 16, _latin1(title), new_x="LMARGIN", new_y="NEXT")


def to_pdf(report: Report) -> bytes:
    pdf = _Pdf(report)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 20, _latin1(report.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(0, 12, _latin1(f"{report.subtitle} - generated {report.generated_at}"),
                   new_x="LMARGIN", new_y="NEXT")
    for block in report.blocks:
        if isinstance(block, BarChart):
            _draw_chart(pdf, block)
            continue
        _heading(pdf, block.title)
        pdf.set_font("Helvetica", "", 8)
        if isinstance(block, KeyValues):
            columns: tuple[str, ...] = ("", "")
            rows: tuple[tuple[str, ...], ...] = tuple((k, v) for k, v in block.items)
            widths: tuple[float, ...] = (150, pdf.epw - 150)
        else:
            columns, rows = block.columns, block.rows
            widths = tuple(pdf.epw / len(columns) for _ in columns)
        with pdf.table(col_widths=widths, first_row_as_headings=bool(any(columns)), line_height=10,
                       text_align="LEFT", headings_style=FontFace(emphasis="BOLD", fill_color=(237, 242, 247)),
                       borders_layout="SINGLE_TOP_LINE") as table:
            for row in ((columns,) if any(columns) else ()) + rows:
                cells = table.row()
                for value in row:
                    cells.cell(_latin1(str(value)))
    out: bytes = bytes(pdf.output())
    return out


RENDERERS: dict[str, Callable[[Report], bytes]] = {"json": to_json, "csv": to_csv, "html": to_html, "pdf": to_pdf}


def render(report: Report, fmt: str) -> bytes:
    try:
        return RENDERERS[fmt](report)
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}") from None


__all__ = ["FORMATS", "render"]
