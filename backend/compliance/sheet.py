"""The score sheet (验收评分表) as a PDF: every item with its score and evidence, the total, the
verdict. Chinese text in the plates' CJK font, embedded as a subset of the glyphs used."""

from __future__ import annotations

import io
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from backend.compliance.schemas import ComplianceOut, ItemOut
from backend.registry.enums import Tier
from qr.fonts import embeddable_subset
from qr.sheets import register_pdf_font

TIER_NAMES = {Tier.DEMONSTRATION: "示范小区", Tier.STANDARD: "标准小区"}
SHEET_NAMES = {"demonstration": "智慧", "standard": "智慧", "safety": "平安"}
HEADER = ("序号", "评分内容", "分值", "得分", "依据")
COLUMN_MM = (14, 68, 12, 14, 78)
LOCAL_FORMAT = "%Y-%m-%d %H:%M UTC"


def _score(value: float | None) -> str:
    return "待录入" if value is None else f"{value:g}"


def _evidence(item: ItemOut) -> str:
    if item.measured:
        return "\n".join(f"【{'达标' if c.ok else '未达标'}】{c.label}：{c.evidence}" for c in item.checks)
    if item.entry is None:
        return "由社区民警录入（尚未录入）"
    entry = item.entry
    note = f"：{entry.note}" if entry.note else ""
    return f"{entry.entered_by} 于 {entry.entered_at:%Y-%m-%d} 录入{note}"


def _rows(assessed: ComplianceOut) -> list[tuple[str, ...]]:
    return [
        (
            f"{SHEET_NAMES[item.sheet]}{item.no}",
            item.text,
            f"{item.points:g}",
            _score(item.score),
            _evidence(item),
        )
        for item in assessed.items
    ]


def _title(assessed: ComplianceOut) -> str:
    return f"{assessed.community} 智慧平安小区验收评分表（{TIER_NAMES[assessed.tier]}）"


def _verdict(assessed: ComplianceOut) -> str:
    verdict = "合格" if assessed.passed else "不合格"
    awaiting = f"，{assessed.awaiting_entry} 项待录入" if assessed.awaiting_entry else ""
    return f"总分 {assessed.total:g} / 100，合格线 {assessed.pass_score:g}：{verdict}{awaiting}"


def render(assessed: ComplianceOut, font_path: str, now: datetime) -> bytes:
    rows = _rows(assessed)
    title, verdict, stamp = _title(assessed), _verdict(assessed), f"生成时间 {now:{LOCAL_FORMAT}}"
    text = "".join([title, verdict, stamp, *HEADER, *(cell for row in rows for cell in row)])
    font = register_pdf_font(embeddable_subset(font_path, text + "0123456789.:-/ UTC%"))
    body = ParagraphStyle("cell", fontName=font, fontSize=7.5, leading=10, wordWrap="CJK")
    heading = ParagraphStyle("title", fontName=font, fontSize=13, leading=18, wordWrap="CJK")

    def cell(value: str) -> Paragraph:
        return Paragraph(escape(value).replace("\n", "<br/>"), body)

    table = Table(
        [[cell(v) for v in HEADER], *([cell(v) for v in row] for row in rows)],
        colWidths=[w * mm for w in COLUMN_MM],
        repeatRows=1,
    )
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
            ]
        )
    )
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=7 * mm,
        rightMargin=7 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=title,
        invariant=True,
    )
    document.build(
        [
            Paragraph(escape(title), heading),
            Paragraph(escape(stamp), body),
            Spacer(1, 4 * mm),
            table,
            Spacer(1, 4 * mm),
            Paragraph(escape(verdict), heading),
        ]
    )
    return buffer.getvalue()
