"""A migration plan as one self-contained HTML page (``cloudcat plan --format html``).

The page needs nothing but a browser: CSS and the chart (SVG) are inline, there is no script, no
font, no image and no link to fetch. In order: the title, the totals per currency, the **gaps**
(lines with no acceptable target), lines whose target price is unknown, a chart of the monthly
cost before and after per family (one chart per currency, since amounts in different currencies
are never added), then every line. Every text taken from the plan is escaped.

A plan of more than ``max_lines`` lines (100,000 servers…) would make a page no browser lays out
in reasonable time: its line and gap tables then hold one row per (source offer, target) with
the number of lines, the quantities and the amounts added up per currency; the JSON and CSV
outputs keep every line.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from html import escape

from .planner import Plan, PlanLine, Totals

__all__ = ["DEFAULT_MAX_LINES", "render_html", "render_text"]

#: Beyond this many lines, the line and gap tables are grouped by source offer and target.
DEFAULT_MAX_LINES = 2000

_CSS = """
:root { --before: #8a94a6; --after: #e8702a; --gap: #b3261e; --ink: #1f2328; --muted: #59636e; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 2rem auto; max-width: 1200px; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
.meta { color: var(--muted); margin-top: 0; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #eaeef2; vertical-align: top; }
th { background: #f6f8fa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.cheaper { color: #1a7f37; } .dearer { color: var(--gap); }
#gaps h2 { color: var(--gap); }
#gaps td.reason { color: var(--gap); font-weight: 600; }
.none { color: var(--muted); font-style: italic; }
.legend span { display: inline-block; margin-right: 1.2rem; }
.swatch { display: inline-block; width: .9rem; height: .9rem; margin-right: .3rem; vertical-align: -2px; }
svg text { font-size: 12px; fill: var(--ink); }
svg .bar-before { fill: var(--before); } svg .bar-after { fill: var(--after); }
ul.reasons { margin: 0; padding-left: 1rem; color: var(--muted); }
code { font-size: .85em; }
"""


def _money(value: Decimal | None, currency: str | None = None) -> str:
    if value is None:
        return "unknown"
    text = f"{value:,.2f}"
    return f"{text} {currency}" if currency else text


def _signed(value: Decimal | None, currency: str | None) -> str:
    if value is None:
        return "—"
    text = _money(value, currency)
    return f"+{text}" if value > 0 else text


def _diff_class(value: Decimal | None) -> str:
    if value is None or value == 0:
        return "num"
    return "num cheaper" if value < 0 else "num dearer"


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _totals(plan: Plan) -> str:
    if not plan.totals:
        return '<p class="none">No known prices.</p>'
    rows = []
    for currency, total in sorted(plan.totals.items()):
        rows.append(
            f'<tr data-currency="{_e(currency)}"><th>{_e(currency)}</th>'
            f'<td class="num before">{_e(_money(total.before, currency))}</td>'
            f'<td class="num after">{_e(_money(total.after, currency))}</td>'
            f'<td class="{_diff_class(total.difference)} difference">'
            f"{_e(_signed(total.difference, currency))}</td></tr>")
    return ('<table id="totals-table"><thead><tr><th>Currency</th><th class="num">Monthly before</th>'
            '<th class="num">Monthly after</th><th class="num">Difference</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>"
            '<p class="meta">Differences add only the lines priced on both sides in the same currency.</p>')


def _gaps(lines: list[PlanLine]) -> str:
    if not lines:
        return '<p class="none">No gaps: every line has a replacement.</p>'
    rows = "".join(
        f'<tr><td>{_e(line.item)}</td><td><code>{_e(line.source)}</code></td>'
        f'<td class="num">{line.quantity}</td><td class="reason">{_e(line.gap_reason)}</td>'
        f'<td class="num">{_e(_money(line.monthly_before, line.currency))}</td></tr>'
        for line in lines)
    return ('<table id="gaps-table"><thead><tr><th>Item</th><th>Source offer</th><th class="num">Qty</th>'
            '<th>Why no replacement</th><th class="num">Monthly before</th></tr></thead><tbody>'
            + rows + "</tbody></table>")


class _Bucket:
    """Lines sharing a source offer, a target and currencies, added up."""

    __slots__ = ("after", "before", "difference", "first", "lines", "quantity")

    def __init__(self, first: PlanLine) -> None:
        self.first = first
        self.lines = 0
        self.quantity = 0
        self.before: Decimal | None = None
        self.after: Decimal | None = None
        self.difference: Decimal | None = None

    def add(self, line: PlanLine) -> None:
        self.lines += 1
        self.quantity += line.quantity
        if line.monthly_before is not None:
            self.before = (self.before or Decimal(0)) + line.monthly_before
        if line.monthly_after is not None:
            self.after = (self.after or Decimal(0)) + line.monthly_after
        if line.difference is not None:
            self.difference = (self.difference or Decimal(0)) + line.difference


def _buckets(lines: list[PlanLine]) -> list[_Bucket]:
    buckets: dict[tuple[object, ...], _Bucket] = {}
    for line in lines:
        key = (line.source, line.target, line.gap_reason, line.currency, line.currency_after)
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = _Bucket(line)
        bucket.add(line)
    return sorted(buckets.values(), key=lambda b: (-(b.before or Decimal(0)), b.first.source))


def _grouped_gaps(lines: list[PlanLine]) -> str:
    rows = "".join(
        f'<tr><td><code>{_e(b.first.source)}</code></td><td class="num">{b.lines}</td>'
        f'<td class="num">{b.quantity}</td><td class="reason">{_e(b.first.gap_reason)}</td>'
        f'<td class="num">{_e(_money(b.before, b.first.currency))}</td></tr>'
        for b in _buckets(lines))
    return ('<table id="gaps-table" class="grouped"><thead><tr><th>Source offer</th><th class="num">Lines</th>'
            '<th class="num">Qty</th><th>Why no replacement</th><th class="num">Monthly before</th></tr></thead>'
            "<tbody>" + rows + "</tbody></table>")


def _grouped_lines(plan: Plan) -> str:
    rows = []
    for b in _buckets(plan.lines):
        line = b.first
        target = f"<code>{_e(line.target)}</code>" if line.target else '<span class="none">gap</span>'
        alternatives = "<br>".join(f"<code>{_e(alt)}</code>" for alt in line.alternatives)
        notes = [line.gap_reason] if line.gap_reason else []
        reasons = "".join(f"<li>{_e(reason)}</li>" for reason in [*notes, *line.reasons])
        rows.append(
            f'<tr class="{"gap" if line.target is None else "planned"}"><td><code>{_e(line.source)}</code></td>'
            f'<td>{_e(line.family)}</td><td class="num">{b.lines}</td><td class="num">{b.quantity}</td>'
            f"<td>{target}</td><td>{alternatives}</td>"
            f'<td class="num">{_e(_money(b.before, line.currency))}</td>'
            f'<td class="num">{_e(_money(b.after, line.currency_after or line.currency))}</td>'
            f'<td class="{_diff_class(b.difference)}">{_e(_signed(b.difference, line.currency))}</td>'
            f'<td><ul class="reasons">{reasons}</ul></td></tr>')
    return ('<table id="lines-table" class="grouped"><thead><tr><th>Source offer</th><th>Family</th>'
            '<th class="num">Lines</th><th class="num">Qty</th><th>Target offer</th><th>Alternatives</th>'
            '<th class="num">Monthly before</th><th class="num">Monthly after</th><th class="num">Difference</th>'
            "<th>Reasons (first line)</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _unpriced(lines: list[PlanLine]) -> str:
    rows = "".join(
        f'<tr><td>{_e(line.item)}</td><td><code>{_e(line.source)}</code></td>'
        f'<td><code>{_e(line.target)}</code></td><td class="num">{line.quantity}</td></tr>'
        for line in lines)
    return ('<table id="unpriced-table"><thead><tr><th>Item</th><th>Source offer</th><th>Target offer</th>'
            '<th class="num">Qty</th></tr></thead><tbody>' + rows + "</tbody></table>")


class _FamilyCost:
    """Monthly cost of one family in one currency, and how many lines had no price."""

    __slots__ = ("after", "before", "unknown_after")

    def __init__(self) -> None:
        self.before = Decimal(0)
        self.after = Decimal(0)
        self.unknown_after = 0


def _family_costs(plan: Plan) -> dict[str, dict[str, _FamilyCost]]:
    """currency -> family -> cost. A line counts in the currency of each of its prices."""
    costs: dict[str, dict[str, _FamilyCost]] = defaultdict(lambda: defaultdict(_FamilyCost))
    for line in plan.lines:
        if line.monthly_before is not None and line.currency:
            costs[line.currency][line.family].before += line.monthly_before
            if line.monthly_after is None:
                costs[line.currency][line.family].unknown_after += 1
        if line.monthly_after is not None and line.currency_after:
            costs[line.currency_after][line.family].after += line.monthly_after
    return costs


def _chart(currency: str, families: dict[str, _FamilyCost]) -> str:
    label_width, bar_width, value_width = 140, 520, 220
    bar, row = 13, 36
    order = sorted(families, key=lambda f: (-max(families[f].before, families[f].after), f))
    top = max((max(c.before, c.after) for c in families.values()), default=Decimal(0)) or Decimal(1)
    width = label_width + bar_width + value_width
    height = row * len(order) + 10
    parts = [f'<svg class="chart" data-currency="{_e(currency)}" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="Monthly cost per family before and after, in {_e(currency)}">']
    for index, family in enumerate(order):
        cost = families[family]
        y = 5 + index * row
        parts.append(f'<text x="{label_width - 8}" y="{y + bar + 3}" text-anchor="end">{_e(family)}</text>')
        for offset, (name, value) in enumerate((("before", cost.before), ("after", cost.after))):
            length = float(value / top) * bar_width
            shown = max(length, 1.0) if value > 0 else 0.0
            y_bar = y + offset * (bar + 2)
            text, tooltip = _money(value), _money(value, currency)
            if name == "after" and cost.unknown_after:
                unknown = f"{cost.unknown_after} line{'s' if cost.unknown_after > 1 else ''} unpriced or gap"
                text = unknown if value == 0 else f"{text} + {unknown}"
                tooltip = unknown if value == 0 else f"{tooltip} + {unknown}"
            parts.append(
                f'<rect class="bar-{name}" data-family="{_e(family)}" data-value="{_e(value)}" '
                f'x="{label_width}" y="{y_bar}" width="{shown:.1f}" height="{bar}">'
                f"<title>{_e(f'{family} {name}: {tooltip}')}</title></rect>")
            parts.append(f'<text x="{label_width + shown + 6:.1f}" y="{y_bar + bar - 2}">{_e(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _charts(plan: Plan) -> str:
    costs = _family_costs(plan)
    if not costs:
        return '<p class="none">No known prices to chart.</p>'
    legend = ('<p class="legend"><span><i class="swatch" style="background:var(--before)"></i>before</span>'
              '<span><i class="swatch" style="background:var(--after)"></i>after</span></p>')
    return legend + "".join(
        f"<h3>{_e(currency)}</h3>{_chart(currency, costs[currency])}" for currency in sorted(costs))


def _lines(plan: Plan) -> str:
    rows = []
    for line in plan.lines:
        target = f"<code>{_e(line.target)}</code>" if line.target else '<span class="none">gap</span>'
        if line.target_vcpus is not None:
            target += f"<br>{line.target_vcpus} vCPU / {line.target_memory_mib} MiB"
        alternatives = "<br>".join(f"<code>{_e(alt)}</code>" for alt in line.alternatives)
        notes = [line.gap_reason] if line.gap_reason else []
        reasons = "".join(f"<li>{_e(reason)}</li>" for reason in [*notes, *line.reasons])
        after_currency = line.currency_after or line.currency
        rows.append(
            f'<tr class="{"gap" if line.target is None else "planned"}"><td>{_e(line.item)}</td>'
            f"<td><code>{_e(line.source)}</code></td><td>{_e(line.family)}</td>"
            f'<td class="num">{line.quantity}</td><td>{target}</td><td>{alternatives}</td>'
            f'<td class="num">{_e(_money(line.monthly_before, line.currency))}</td>'
            f'<td class="num">{_e(_money(line.monthly_after, after_currency))}</td>'
            f'<td class="{_diff_class(line.difference)}">{_e(_signed(line.difference, line.currency))}</td>'
            f'<td><ul class="reasons">{reasons}</ul></td></tr>')
    return ('<table id="lines-table"><thead><tr><th>Item</th><th>Source offer</th><th>Family</th>'
            '<th class="num">Qty</th><th>Target offer</th><th>Alternatives</th><th class="num">Monthly before</th>'
            '<th class="num">Monthly after</th><th class="num">Difference</th><th>Reasons</th></tr></thead>'
            "<tbody>" + "".join(rows) + "</tbody></table>")


def render_html(plan: Plan, *, max_lines: int = DEFAULT_MAX_LINES) -> str:
    """The plan as one self-contained HTML page: totals, gaps first, a chart per family, the lines.

    With more than ``max_lines`` lines, the line, gap and unknown-price tables hold one row per
    source offer and target instead of one per line.
    """
    source = plan.source or "source"
    target = plan.target or "target"
    title = f"Migration plan: {source} → {target}"
    gaps = [line for line in plan.lines if line.target is None]
    unpriced = [line for line in plan.lines if line.target is not None and line.monthly_after is None]
    grouped = len(plan.lines) > max_lines
    note = (f'<p class="meta grouped-note">{len(plan.lines)} lines: grouped by source offer and target. '
            "The JSON and CSV outputs list every line.</p>" if grouped else "")
    sections = [
        f'<header><h1>{_e(title)}</h1><p class="meta">{len(plan.lines)} lines, {len(gaps)} gaps · generated '
        f"{_e(plan.generated_at.strftime('%Y-%m-%d %H:%M UTC'))}</p></header>",
        f'<section id="totals"><h2>Monthly totals</h2>{_totals(plan)}</section>',
        f'<section id="gaps"><h2>Gaps ({len(gaps)})</h2>'
        f"{_grouped_gaps(gaps) if grouped and gaps else _gaps(gaps)}</section>",
    ]
    if unpriced:
        table = _grouped_lines(Plan.model_construct(lines=unpriced)).replace(
            'id="lines-table"', 'id="unpriced-table"') if grouped else _unpriced(unpriced)
        sections.append(f'<section id="unpriced"><h2>Target price unknown ({len(unpriced)})</h2>{table}</section>')
    lines_table = _grouped_lines(plan) if grouped else _lines(plan)
    sections += [
        f'<section id="chart"><h2>Monthly cost per family, before and after</h2>{_charts(plan)}</section>',
        f'<section id="lines"><h2>All lines ({len(plan.lines)})</h2>{note}{lines_table}</section>',
    ]
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
            f"<body>{''.join(sections)}</body></html>\n")


def _plain_amount(amount: Decimal | None) -> str:
    return f"{amount:.2f}" if amount is not None else "unknown"


def _gap_text(line: PlanLine) -> str:
    return f"  {line.item:<22} {line.source_name or line.source:<28} ×{line.quantity:<3} {line.gap_reason}"


def _line_text(line: PlanLine) -> str:
    size = f" ({line.target_vcpus} vCPU/{line.target_memory_mib} MiB)" if line.target_vcpus else ""
    unit = f" {line.currency}/month" if line.currency else " (price unknown)"
    return (f"  {line.item:<22} {line.source_name or line.source:<28} → {line.target_name or line.target}{size}"
            f"  ×{line.quantity}  {_plain_amount(line.monthly_before)} → {_plain_amount(line.monthly_after)}{unit}")


def _totals_text(plan: Plan, currency: str, total: Totals) -> list[str]:
    both = [x for x in plan.lines if x.currency == currency and x.currency_after in (None, currency)
            and x.monthly_before is not None and x.monthly_after is not None]
    same_before = sum((x.monthly_before for x in both if x.monthly_before is not None), Decimal(0))
    same_after = sum((x.monthly_after for x in both if x.monthly_after is not None), Decimal(0))
    return [f"total {currency} per month: {total.before:.2f} today for every line; {total.after:.2f} after "
            "for the lines with a priced replacement",
            f"  on the {len(both)} line(s) priced on both sides: {same_before:.2f} → {same_after:.2f} "
            f"({total.difference:+.2f})"]


def render_text(plan: Plan) -> str:
    """A plan as text: gaps first, then the lines, then totals per currency."""
    out: list[str] = []
    gaps = [line for line in plan.lines if line.target is None]
    if gaps:
        out.append(f"gaps ({len(gaps)}):")
        out += [_gap_text(line) for line in gaps]
    out.append("lines:")
    out += [_line_text(line) for line in plan.lines if line.target is not None]
    for currency, total in sorted(plan.totals.items()):
        out += _totals_text(plan, currency, total)
    return "\n".join(out)
