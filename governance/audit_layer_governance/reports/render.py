"""A report document in json, csv, html or pdf. Every format carries the same figures; html
and pdf draw the same charts (charts.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from html import escape
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fpdf import FPDF, FontFace

from audit_layer_governance.reports import charts, fonts, signature
from audit_layer_governance.reports.document import (
    RISK_COLORS,
    BarChart,
    Conversation,
    KeyValues,
    Report,
    TableBlock,
    rfc3339,
)

FORMATS = ("json", "csv", "html", "pdf")


def _default(value: object) -> str:
    if isinstance(value, dt.datetime):
        return rfc3339(value)
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
        elif isinstance(block, Conversation):
            for i, message in enumerate(block.messages, 1):
                writer.writerow([block.title, f"{i} {message.role}", message.name, message.text])
        else:
            for label, number in zip(block.labels, block.values, strict=True):
                writer.writerow([block.title, label, block.unit, number])
    return out.getvalue().encode()


_CSS = """body{font-family:"Noto Sans",Helvetica,Arial,sans-serif;margin:2em auto;max-width:60em;color:#1a202c}
h1{font-size:1.5em;margin-bottom:0}p.sub{color:#4a5568;margin-top:.2em}h2{font-size:1.1em;margin-top:1.6em;
border-bottom:1px solid #cbd5e0}table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #e2e8f0;
padding:.25em .6em;text-align:left;vertical-align:top}th{background:#edf2f7}td.k{color:#4a5568;width:16em}
.chart{display:block;margin:.6em 0}code{font-size:.85em;word-break:break-all}
.msg{border-radius:6px;padding:.3em .7em;margin:.4em 0;background:#f7fafc}.msg pre{white-space:pre-wrap;
font-family:inherit;margin:.2em 0}.msg.system{background:#edf2f7}.msg.user{background:#ebf4ff}
.msg.assistant{background:#f0fff4}.msg.tool-call,.msg.tool{background:#fffaf0}"""


def _td(value: str) -> str:
    color = RISK_COLORS.get(value)
    if color is None:
        return f"<td>{escape(value)}</td>"
    return f"<td style=\"color:{color};font-weight:bold\">{value}</td>"


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
                parts.append("<tr>" + "".join(_td(v) for v in row) + "</tr>")
            parts.append("</table>")
        elif isinstance(block, Conversation):
            parts.append(f"<h2>{escape(block.title)}</h2>")
            parts.extend(f"<div class=\"msg {escape(m.role.replace(' ', '-'))}\"><b>{escape(m.role)}"
                         f"{' · ' + escape(m.name) if m.name else ''}</b><pre>{escape(m.text)}</pre></div>"
                         for m in block.messages)
            if not block.messages:
                parts.append("<p>(not captured, or erased)</p>")
        else:
            parts.append(charts.to_svg(block))
    parts.append("</body></html>\n")
    return "".join(parts).encode()


_ROLE_FILL = {"system": (237, 242, 247), "user": (235, 244, 255), "assistant": (240, 255, 244),
              "tool call": (255, 250, 240), "tool": (255, 250, 240)}


class _Pdf(FPDF):
    """PDF/A-2B: every font embedded, the document's metadata in XMP, so it stays readable as it was."""

    def __init__(self, report: Report) -> None:
        super().__init__(unit="pt", format="A4", enforce_compliance="PDF/A-2B")
        self.report = report
        main, fallbacks = fonts.resolve()
        for font, path in main + fallbacks:
            self.add_font(font.family, font.style, str(path))
        self.set_fallback_fonts([f.family for f, _ in fallbacks], exact_match=False)
        # shaping joins Arabic letters and orders right-to-left runs; the text layer keeps the stored order
        self.set_text_shaping(True)
        self.set_auto_page_break(True, margin=48)
        self.set_margins(40, 40, 40)
        self.set_title(report.title)
        self.set_subject(report.subtitle)
        self.set_author("Audit Layer")
        self.set_creator(f"Audit Layer report {report.kind}")
        self.set_keywords(f"audit-layer {report.kind}")
        self.set_lang("en")
        self.set_creation_date(_generated(report))

    # fpdf2 (2.8.9) switches to a fallback font (Tf) inside a line's text object and does not switch back
    # at its end; Tf outlives ET in PDF, so the next line's glyph ids were drawn with the fallback font (Latin
    # after a CJK line came out as boxes). Selecting the font again at the start of every line avoids it.
    def _render_styled_text_line(self, *args: Any, **kwargs: Any) -> Any:
        self.current_font_is_set_on_page = False
        return super()._render_styled_text_line(*args, **kwargs)  # type: ignore[misc]

    def footer(self) -> None:
        self.set_y(-32)
        self.set_font(fonts.FAMILY, size=7)
        self.set_text_color(100, 100, 100)
        self.cell(0, 10, f"{self.report.title} · generated {self.report.generated_at} · page {self.page_no()} "
                         f"of {{nb}}", align="C")
        self.set_text_color(0, 0, 0)


def _generated(report: Report) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(report.generated_at.replace("Z", "+00:00"))
    except ValueError:
        return dt.datetime.now(dt.UTC)


def _draw_chart(pdf: FPDF, chart: BarChart) -> None:
    lay = charts.layout(chart)
    if pdf.get_y() + lay.height > pdf.h - 56:
        pdf.add_page()
    x0, y0 = pdf.l_margin, pdf.get_y() + 6
    for shape in lay.shapes:
        if isinstance(shape, charts.Rect):
            r, g, b = (int(shape.color[i:i + 2], 16) for i in (1, 3, 5))
            pdf.set_fill_color(r, g, b)
            pdf.rect(x0 + shape.x, y0 + shape.y, shape.w, shape.h, style="F")
        else:
            pdf.set_font(fonts.FAMILY, "B" if shape.bold else "", shape.size)
            x = x0 + shape.x - (pdf.get_string_width(shape.text) if shape.anchor == "end" else 0)
            pdf.text(x, y0 + shape.y, shape.text)
    pdf.set_fill_color(255, 255, 255)  # fpdf keeps the last fill colour for what follows
    pdf.set_y(y0 + lay.height + 4)


def _heading(pdf: FPDF, title: str) -> None:
    if pdf.get_y() > pdf.h - 110:  # a heading never sits alone at the foot of a page
        pdf.add_page()
    pdf.ln(8)
    pdf.set_font(fonts.FAMILY, "B", 11)
    pdf.cell(0, 16, title, new_x="LMARGIN", new_y="NEXT")


def _widths(pdf: FPDF, columns: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> tuple[float, ...]:
    """Columns as wide as their longest text needs; when they do not fit, only the widest are narrowed (to
    one common cap) and wrap: short figures and words are never broken, the table never overflows."""
    pdf.set_font(fonts.FAMILY, "", 8)
    wanted = [max([pdf.get_string_width(str(c)) + 10] + [pdf.get_string_width(str(r[i])) + 10 for r in rows[:200]])
              for i, c in enumerate(columns)]
    if sum(wanted) <= pdf.epw:
        return tuple(pdf.epw * w / sum(wanted) for w in wanted)
    low, high = 0.0, max(wanted)
    for _ in range(40):  # the cap c with sum(min(w, c)) == epw
        cap = (low + high) / 2
        low, high = (cap, high) if sum(min(w, cap) for w in wanted) < pdf.epw else (low, cap)
    return tuple(min(w, low) for w in wanted)


def _messages(pdf: FPDF, block: Conversation) -> None:
    for message in block.messages:
        pdf.set_font(fonts.FAMILY, "B", 8)
        label = message.role + (f" · {message.name}" if message.name else "")
        pdf.set_fill_color(*_ROLE_FILL.get(message.role, (247, 250, 252)))
        pdf.cell(0, 12, label, new_x="LMARGIN", new_y="NEXT", fill=True)
        pdf.set_font(fonts.FAMILY, "", 8.5)
        pdf.multi_cell(0, 11, message.text or "(empty)", new_x="LMARGIN", new_y="NEXT", fill=True,
                       padding=(0, 4, 4, 4))
        pdf.ln(3)
    if not block.messages:
        pdf.set_font(fonts.FAMILY, "", 8.5)
        pdf.cell(0, 12, "(not captured, or erased)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_fill_color(255, 255, 255)


def to_pdf(report: Report) -> bytes:
    pdf = _Pdf(report)
    pdf.add_page()
    pdf.set_font(fonts.FAMILY, "B", 16)
    pdf.multi_cell(0, 20, report.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(fonts.FAMILY, "", 9)
    pdf.multi_cell(0, 12, f"{report.subtitle} · generated {report.generated_at}", new_x="LMARGIN", new_y="NEXT")
    for block in report.blocks:
        if isinstance(block, BarChart):
            _draw_chart(pdf, block)
            continue
        _heading(pdf, block.title)
        if isinstance(block, Conversation):
            _messages(pdf, block)
            continue
        pdf.set_font(fonts.FAMILY, "", 8)
        if isinstance(block, KeyValues):
            columns: tuple[str, ...] = ("", "")
            rows: tuple[tuple[str, ...], ...] = tuple((k, v) for k, v in block.items)
            widths: tuple[float, ...] = (150, pdf.epw - 150)
        else:
            columns, rows = block.columns, block.rows
            widths = _widths(pdf, columns, rows)
        with pdf.table(col_widths=widths, first_row_as_headings=bool(any(columns)), line_height=10,
                       text_align="LEFT", headings_style=FontFace(emphasis="BOLD", fill_color=(237, 242, 247)),
                       borders_layout="SINGLE_TOP_LINE") as table:
            for row in ((columns,) if any(columns) else ()) + rows:
                cells = table.row()
                for value in row:
                    color = RISK_COLORS.get(str(value))
                    style = None if color is None else FontFace(emphasis="BOLD", color=_rgb(color))
                    cells.cell(str(value), style=style)
    out: bytes = bytes(pdf.output())
    return out


def _rgb(color: str) -> tuple[int, int, int]:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return r, g, b


RENDERERS: dict[str, Callable[[Report], bytes]] = {"json": to_json, "csv": to_csv, "html": to_html, "pdf": to_pdf}


def render(report: Report, fmt: str, *, signing_key: Ed25519PrivateKey | None = None) -> bytes:
    """The report in `fmt`; a pdf is signed with `signing_key` when one is given (signature.py)."""
    try:
        body = RENDERERS[fmt](report)
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}") from None
    if fmt == "pdf" and signing_key is not None:
        body = signature.sign_pdf(body, signing_key, reason=report.title)
    return body


__all__ = ["FORMATS", "render"]
