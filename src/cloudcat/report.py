"""A migration plan as one self-contained HTML page (``cloudcat plan --format html``).

The page needs nothing but a browser: CSS and the chart (SVG) are inline, there is no script, no
font, no image and no link to fetch, and a strict Content-Security-Policy (nothing may load or run;
only the page's own stylesheet, by its hash) says so to the browser. Text taken from the plan is
escaped, and control and bidirectional formatting characters in it are shown as ``\u202e``
escapes, inside cells that isolate their direction. In order: the title, one headline per
currency (the lines priced on both sides: before, after, difference, percentage, per month and
per year; gaps and unpriced lines valued apart), the **gaps**
(lines with no acceptable target), lines whose target price is unknown, a chart of the monthly
cost before and after per family (one chart per currency, since amounts in different currencies
are never added), then every line (a table that wraps to the window), and where the data came from (snapshot,
read times, price books) when the caller says (:class:`Provenance`).

A plan of more than ``max_lines`` lines (100,000 servers…) would make a page no browser lays out
in reasonable time: its line and gap tables then hold one row per (source offer, target) with
the number of lines, the quantities and the amounts added up per currency; the JSON and CSV
outputs keep every line.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from html import escape

from .output import escape_controls, render_table
from .planner import Plan, PlanLine

__all__ = ["DEFAULT_MAX_LINES", "Provenance", "render_html", "render_text"]


@dataclass(slots=True)
class Provenance:
    """Where a plan's data came from, for the page's footer."""

    #: Id of the stored snapshot the plan read, and when it was stored.
    snapshot: int | None = None
    snapshot_created: dt.datetime | None = None
    #: When each backend was last read (``None``: its last read failed).
    read_at: dict[str, dt.datetime | None] = field(default_factory=dict)
    #: The price books in use (paths as configured).
    price_books: list[str] = field(default_factory=list)

#: Beyond this many lines, the line and gap tables are grouped by source offer and target.
DEFAULT_MAX_LINES = 2000

_CSS = """
:root { --before: #8a94a6; --after: #e8702a; --gap: #b3261e; --ink: #1f2328; --muted: #59636e; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 2rem auto; max-width: 1200px; padding: 0 1rem; line-height: 1.4; overflow-wrap: anywhere; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
.meta { color: var(--muted); margin-top: 0; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; table-layout: auto; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #eaeef2; vertical-align: top;
         unicode-bidi: isolate; overflow-wrap: anywhere; word-break: break-word; }
code, bdi { unicode-bidi: isolate; overflow-wrap: anywhere; word-break: break-all; }
@media (max-width: 1000px) { table { font-size: .8rem; } th, td { padding: .25rem .3rem; } }
.headline { font-size: 1.05rem; margin: .4rem 0; }
.headline strong { font-variant-numeric: tabular-nums; }
.swatch.before { background: var(--before); } .swatch.after { background: var(--after); }
svg.chart { max-width: 100%; height: auto; }
footer { margin-top: 2.5rem; border-top: 1px solid #d0d7de; color: var(--muted); font-size: .85rem; }
footer ul { padding-left: 1.2rem; }
th { background: #f6f8fa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; overflow-wrap: normal; word-break: normal; }
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
    text = f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,.2f}"
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
    """Text for the page: escaped, control and bidi formatting characters shown as escapes."""
    return escape(escape_controls("" if value is None else str(value)), quote=True)


def _percent(part: Decimal, whole: Decimal) -> str:
    if whole == 0:
        return "—"
    value = (part * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"+{value}%" if value > 0 else f"{value}%"


class _Headline:
    """One currency's figures: the comparable lines (priced on both sides in it), the gaps and the
    lines whose target price is unknown, each added up apart."""

    __slots__ = ("after", "before", "gap_before", "gap_lines", "lines", "unpriced_before", "unpriced_lines")

    def __init__(self) -> None:
        self.before = self.after = self.gap_before = self.unpriced_before = Decimal(0)
        self.lines = self.gap_lines = self.unpriced_lines = 0

    def add(self, line: PlanLine) -> None:
        if line.monthly_after is not None and line.monthly_before is not None:
            self.lines += 1
            self.before += line.monthly_before
            self.after += line.monthly_after
        elif line.target is None:
            self.gap_lines += 1
            self.gap_before += line.monthly_before or Decimal(0)
        else:
            self.unpriced_lines += 1
            self.unpriced_before += line.monthly_before or Decimal(0)


def _headlines(plan: Plan) -> dict[str, _Headline]:
    out: dict[str, _Headline] = defaultdict(_Headline)
    for line in plan.lines:
        if line.currency and line.currency_after in (None, line.currency):
            out[line.currency].add(line)
    return out


def _headline(currency: str, h: _Headline) -> str:
    difference = h.after - h.before
    cls = _diff_class(difference).replace("num", "").strip()
    c = _e(currency)
    return (f'<div class="headline-block" data-currency="{c}"><p class="headline">On the <strong>{h.lines}</strong> '
            f"line{'s' if h.lines != 1 else ''} priced on both sides: "
            f'<strong class="before">{_e(_money(h.before, currency))}</strong> → '
            f'<strong class="after">{_e(_money(h.after, currency))}</strong> a month, '
            f'<strong class="difference {cls}">{_e(_signed(difference, currency))}</strong> '
            f'(<strong class="percent {cls}">{_e(_percent(difference, h.before))}</strong>), '
            f'<strong class="yearly {cls}">{_e(_signed(difference * 12, currency))}</strong> a year.</p>'
            f'<p class="meta">Valued apart: {h.gap_lines} gap line(s), '
            f'<span class="gap-value">{_e(_money(h.gap_before, currency))}</span> a month today with no '
            f"replacement; {h.unpriced_lines} line(s) with no target price, "
            f'<span class="unpriced-value">{_e(_money(h.unpriced_before, currency))}</span> a month today.</p></div>')


def _totals(plan: Plan) -> str:
    headlines = _headlines(plan)
    if not plan.totals and not headlines:
        return '<p class="none">No known prices.</p>'
    blocks = [_headline(currency, headlines[currency]) for currency in sorted(headlines)]
    rows = []
    for currency, h in sorted(headlines.items()):
        difference = h.after - h.before
        rows.append(
            f'<tr data-currency="{_e(currency)}"><th>{_e(currency)}</th><td class="num">{h.lines}</td>'
            f'<td class="num before">{_e(_money(h.before, currency))}</td>'
            f'<td class="num after">{_e(_money(h.after, currency))}</td>'
            f'<td class="{_diff_class(difference)} difference">{_e(_signed(difference, currency))}</td>'
            f'<td class="{_diff_class(difference)} percent">{_e(_percent(difference, h.before))}</td>'
            f'<td class="{_diff_class(difference)} yearly">{_e(_signed(difference * 12, currency))}</td>'
            f'<td class="num gap-value">{_e(_money(h.gap_before, currency))}</td></tr>')
    return ("".join(blocks) + '<table id="totals-table"><thead><tr><th>Currency</th><th class="num">Lines</th>'
            '<th class="num">Monthly before</th><th class="num">Monthly after</th><th class="num">Difference</th>'
            '<th class="num">%</th><th class="num">Per year</th><th class="num">Gaps today</th></tr></thead>'
            "<tbody>" + "".join(rows) + "</tbody></table>"
            '<p class="meta">Before, after and the difference add the same lines: those priced on both sides '
            "in the same currency. Gaps and lines with no target price are valued apart. Amounts are monthly "
            "(730 hours), rounded to the cent; a year is twelve months.</p>")


def _footer(provenance: Provenance | None, plan: Plan) -> str:
    generated = _e(plan.generated_at.strftime("%Y-%m-%d %H:%M UTC"))
    if provenance is None:
        return f'<footer id="provenance"><p>Generated {generated}.</p></footer>'
    snapshot = (f"snapshot {provenance.snapshot}"
                + (f", stored {_e(_when(provenance.snapshot_created))}" if provenance.snapshot_created else "")
                if provenance.snapshot is not None else "no stored snapshot")
    reads = "".join(f"<li><bdi>{_e(backend)}</bdi>: {_e(_when(at)) if at else 'last read failed'}</li>"
                    for backend, at in sorted(provenance.read_at.items()))
    books = "".join(f"<li><code>{_e(book)}</code></li>" for book in provenance.price_books)
    return (f'<footer id="provenance"><h2>Where the data comes from</h2><p>Generated {generated} from '
            f"{snapshot}.</p><p>Backends read:</p><ul class=\"read-times\">{reads or '<li>none</li>'}</ul>"
            f"<p>Price sources: prices read from the backends, and these price books:</p>"
            f"<ul class=\"price-books\">{books or '<li>none configured</li>'}</ul></footer>")


def _when(at: dt.datetime | None) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if at else ""


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
    legend = ('<p class="legend"><span><i class="swatch before"></i>before</span>'
              '<span><i class="swatch after"></i>after</span></p>')
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


def render_html(plan: Plan, *, max_lines: int = DEFAULT_MAX_LINES, provenance: Provenance | None = None) -> str:
    """The plan as one self-contained HTML page: totals, gaps first, a chart per family, the lines,
    and where the data came from (``provenance``).

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
        f'<section id="totals"><h2>Headline</h2>{_totals(plan)}</section>',
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
        _footer(provenance, plan),
    ]
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
            f"<body>{''.join(sections)}</body></html>\n")


#: The page's Content-Security-Policy: nothing loads, nothing runs, no form posts; the one inline
#: stylesheet is allowed by its hash (no inline style attribute is).
CSP = ("default-src 'none'; style-src 'sha256-"
       + base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
       + "'; img-src data:; base-uri 'none'; form-action 'none'")


def _plain_amount(amount: Decimal | None) -> str:
    return f"{amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}" if amount is not None else "unknown"


def _totals_text(plan: Plan, currency: str, h: _Headline) -> list[str]:
    difference = h.after - h.before
    return [f"{currency}, {h.lines} line(s) priced on both sides: {_plain_amount(h.before)} → "
            f"{_plain_amount(h.after)} a month",
            f"  difference {_plain_amount(difference)} ({_percent(difference, h.before)}), "
            f"{_plain_amount(difference * 12)} a year",
            f"  valued apart: {h.gap_lines} gap line(s) {_plain_amount(h.gap_before)}, "
            f"{h.unpriced_lines} with no target price {_plain_amount(h.unpriced_before)}"]


def render_text(plan: Plan, *, width: int | None = None) -> str:
    """A plan as text for a terminal ``width`` columns wide (its own by default): gaps first, then
    the lines, then the headline per currency. No row is wider than ``width``."""
    out: list[str] = []
    gaps = [line for line in plan.lines if line.target is None]
    if gaps:
        out.append(f"gaps ({len(gaps)}):")
        out.append(render_table([{"item": g.item, "source": g.source_name or g.source, "qty": g.quantity,
                                  "why": g.gap_reason} for g in gaps], width=width,
                                columns=[("item", "item"), ("source", "source"), ("qty", "qty"), ("why", "why")],
                                keep_first=False))
    out.append("lines:")
    rows = [{"item": x.item, "source": x.source_name or x.source, "target": x.target_name or x.target,
             "qty": x.quantity, "before": _plain_amount(x.monthly_before), "after": _plain_amount(x.monthly_after),
             "cur": x.currency or ""} for x in plan.lines if x.target is not None]
    out.append(render_table(rows, width=width, columns=[
        ("source", "source"), ("target", "target"), ("qty", "qty"), ("before", "before"), ("after", "after"),
        ("cur", "cur"), ("item", "item")], keep_first=False))
    for currency, h in sorted(_headlines(plan).items()):
        out += [escape_controls(text) for text in _totals_text(plan, currency, h)]
    return "\n".join(part.rstrip("\n") for part in out)
