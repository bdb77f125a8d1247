"""The plan's HTML page, rendered by headless Chromium (Debian's ``chromium`` package).

Chromium loads the page from a file with networking features off, and the tests assert on what
it rendered: the DOM it dumps (sections in order, totals, escaped text, SVG bars) and a
screenshot (not blank; the bar colours are painted).
"""

from __future__ import annotations

import datetime as dt
import shutil
import struct
import subprocess
import zlib
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from cloudcat.models import FlexibleSizing, Gpu, Offer, Price
from cloudcat.planner import InventoryLine, Plan, plan_migration
from cloudcat.report import render_html

READ_AT = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
DAY = dt.date(2025, 3, 1)
HOSTILE = "<script>document.title='owned'</script><img src=x onerror=alert(1)>"


def _offer(brand: str, kind: str, name: str, **fields: Any) -> Offer:
    region = "fr-paris" if brand == "cav" else "eu-west-0"
    return Offer(id=f"{brand}/{kind}/{region}/{name}", brand=brand, kind=kind, name=name, region=region,
                 backend=brand, driver="static", read_at=READ_AT, **fields)


def _price(amount: str, unit: str = "hour") -> Price:
    return Price(amount=Decimal(amount), currency="EUR", unit=unit)


def sample_plan() -> Plan:
    source = [
        _offer("fe", "compute", "s3.large.2", vcpus=2, memory_mib=4096, price=_price("0.0612")),
        _offer("fe", "compute", "c6.2xlarge.2", vcpus=8, memory_mib=16384, price=_price("0.3220")),
        _offer("fe", "compute", "g1.xlarge", vcpus=4, memory_mib=8192, price=_price("0.95"),
               gpu=Gpu(model="NVIDIA M60", count=0.125)),
        _offer("fe", "storage", "SSD", storage_class="SSD", iops=3000, price=_price("0.16", "GiB-month")),
        _offer("fe", "image", "OBS CentOS 7.4", os_family="CentOS", os_version="7.4"),
        _offer("fe", "image", "OBS Ubuntu 22.04", os_family="Ubuntu", os_version="22.04"),
    ]
    target = [
        _offer("cav", "compute", "STD-PAYG", labels=["secnumcloud"], extras={"service_class": "STD"},
               flexible=FlexibleSizing(vcpus_max=256, memory_mib_max=5120 * 1024,
                                       price_per_vcpu=_price("0.015", "vcpu-hour"),
                                       price_per_gib_memory=_price("0.005", "GiB-hour"))),
        _offer("cav", "storage", "platinum3k", storage_class="platinum3k", iops=3000, labels=["secnumcloud"],
               price=_price("0.21", "GiB-month")),
        _offer("cav", "image", "UBUNTU_22.04", os_family="ubuntu", os_version="22.04", labels=["secnumcloud"]),
    ]
    inventory = [
        InventoryLine(item=HOSTILE, offer="s3.large.2", quantity=12),
        InventoryLine(item="batch", offer="c6.2xlarge.2", quantity=4),
        InventoryLine(item="render", offer="g1.xlarge", quantity=2),
        InventoryLine(item="db", offer="SSD", size_gib=Decimal(2000)),
        InventoryLine(item="legacy", offer="OBS CentOS 7.4", quantity=3),
        InventoryLine(item="web os", offer="OBS Ubuntu 22.04", quantity=12),
    ]
    return plan_migration(source, target, inventory, require_labels=["secnumcloud"],
                          source="Flexible Engine <FE>", target="Cloud Avenue", day=DAY)


def chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("chromium")
    assert binary, "headless Chromium is needed: apt-get install -y chromium"
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True)


class _Dom(HTMLParser):
    """Elements in document order, with attributes and the text inside each."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._in_title = tag == "title" and not self.title  # the page's, not an SVG tooltip

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_title:
            self.title += data

    def ids(self) -> list[str]:
        return [attrs["id"] for _, attrs in self.elements if "id" in attrs]

    def find(self, tag: str, cls: str | None = None) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.elements
                if name == tag and (cls is None or cls in attrs.get("class", "").split())]


@pytest.fixture
def page(tmp_path: Path) -> tuple[Plan, Path]:
    plan = sample_plan()
    path = tmp_path / "plan.html"
    path.write_text(render_html(plan), encoding="utf-8")
    return plan, path


def test_chromium_renders_gaps_first_totals_and_bars(tmp_path: Path, page: tuple[Plan, Path]) -> None:
    plan, path = page
    dom = _Dom()
    dom.feed(chromium(tmp_path, path, "--dump-dom").stdout)
    text = " ".join(" ".join(dom.text).split())

    assert dom.title == "Migration plan: Flexible Engine <FE> → Cloud Avenue"
    ids = dom.ids()
    assert ids.index("totals") < ids.index("gaps") < ids.index("chart") < ids.index("lines")
    assert "Gaps (2)" in text and "no GPU offer" in text and "no image for OS centos 7.4" in text

    # totals as rendered, computed from the plan
    total = plan.totals["EUR"]
    assert total.before == Decimal("12") * 730 * Decimal("0.0612") + 4 * 730 * Decimal("0.322") \
        + 2 * 730 * Decimal("0.95") + 2000 * Decimal("0.16")
    assert f"{total.before:,.2f} EUR" == "3,183.35 EUR"
    # the headline adds one set of lines on both sides: those priced before and after
    both = [x for x in plan.lines if x.monthly_before is not None and x.monthly_after is not None]
    before = sum((x.monthly_before for x in both if x.monthly_before is not None), Decimal(0))
    after = sum((x.monthly_after for x in both if x.monthly_after is not None), Decimal(0))
    priced_gaps = [x.monthly_before for x in plan.lines if x.target is None and x.monthly_before is not None]
    difference = after - before
    percent = (difference * 100 / before).quantize(Decimal("0.1"))
    text = " ".join("".join(dom.text).split())
    assert f"On the {len(both)} lines priced on both sides: {before:,.2f} EUR → {after:,.2f} EUR a month, " \
           f"{difference:,.2f} EUR ({percent}%), {difference * 12:,.2f} EUR a year." in text
    assert f"{len(priced_gaps)} gap line(s), {sum(priced_gaps, Decimal(0)):,.2f} EUR a month today with no " \
           "replacement" in text
    assert "Where the data comes from" not in text  # no provenance given: the generation time only

    # one SVG bar pair per family, lengths proportional to the amounts
    assert len(dom.find("svg", "chart")) == 1
    before = {bar["data-family"]: bar for bar in dom.find("rect", "bar-before")}
    after = {bar["data-family"]: bar for bar in dom.find("rect", "bar-after")}
    assert set(before) == set(after) == {"s3", "c6", "g1", "SSD"}
    assert float(after["g1"]["width"]) == 0  # the GPU flavor is a gap
    widest = max(float(bar["width"]) for bar in [*before.values(), *after.values()])
    assert widest == 520.0
    assert float(before["c6"]["width"]) > float(after["c6"]["width"]) > 0
    assert "1 line unpriced or gap" in text

    # hostile text from the inventory is shown, never run
    assert dom.title != "owned"
    assert dom.find("script") == [] and dom.find("img") == []
    assert HOSTILE in text


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Rows of RGB(A) pixels of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prior = bytearray(stride)
    for y in range(height):
        filter_type = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = prior[x]
            corner = prior[x - channels] if x >= channels else 0
            if filter_type == 1:
                line[x] = (line[x] + left) & 0xFF
            elif filter_type == 2:
                line[x] = (line[x] + up) & 0xFF
            elif filter_type == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        prior = line
    return width, channels, rows


def test_chromium_screenshot_is_not_blank_and_paints_the_bars(tmp_path: Path, page: tuple[Plan, Path]) -> None:
    _, path = page
    shot = tmp_path / "plan.png"
    chromium(tmp_path, path, "--hide-scrollbars", "--window-size=1100,1400", f"--screenshot={shot}")
    width, channels, rows = _png_pixels(shot.read_bytes())
    colours: set[tuple[int, ...]] = set()
    runs: dict[tuple[int, ...], int] = {}
    for row in rows:
        run, last = 0, None
        for x in range(0, width * channels, channels):
            pixel = tuple(row[x:x + 3])
            colours.add(pixel)
            run = run + 1 if pixel == last else 1
            last = pixel
            runs[pixel] = max(runs.get(pixel, 0), run)
    assert len(colours) > 20, "the screenshot is blank"
    # bars are far wider than the 14-pixel legend swatches of the same colours
    assert runs.get((0x8A, 0x94, 0xA6), 0) > 100, "no 'before' bar painted"
    assert runs.get((0xE8, 0x70, 0x2A), 0) > 100, "no 'after' bar painted"
    assert (0xB3, 0x26, 0x1E) in colours, "gaps heading not painted"


def test_page_is_self_contained() -> None:
    html = render_html(sample_plan())
    dom = _Dom()
    dom.feed(html)
    tags = {tag for tag, _ in dom.elements}
    assert tags.isdisjoint({"script", "link", "img", "iframe", "object", "embed", "base", "meta http-equiv"})
    assert all(not {"src", "href", "srcset", "action"} & set(attrs) for _, attrs in dom.elements)
    lowered = html.lower()
    for needle in ("http:", "https:", "url(", "@import", "@font-face"):
        assert needle not in lowered, needle
    assert "svg" in tags and "style" in tags


def test_empty_and_gapless_plans_render() -> None:
    html = render_html(Plan(source="a", target="b"))
    assert "No gaps: every line has a replacement." in html and "No known prices." in html
    assert "No known prices to chart." in html and "All lines (0)" in html


def test_one_chart_per_currency() -> None:
    src = _offer("fe", "compute", "s3.large.2", vcpus=2, memory_mib=4096, price=_price("0.0612"))
    usd = _offer("cav", "compute", "Standard_D2s_v5", vcpus=2, memory_mib=8192,
                 price=Price(amount=Decimal("0.096"), currency="USD", unit="hour"))
    html = render_html(plan_migration([src], [usd], day=DAY))
    dom = _Dom()
    dom.feed(html)
    charts = dom.find("svg", "chart")
    assert [chart["data-currency"] for chart in charts] == ["EUR", "USD"]
    bars = [(attrs["class"], attrs["data-family"], attrs["data-value"]) for tag, attrs in dom.elements
            if tag == "rect"]
    assert bars == [("bar-before", "s3", "44.6760"), ("bar-after", "s3", "0"),
                    ("bar-before", "s3", "0"), ("bar-after", "s3", "70.080")]


def test_large_plans_group_lines_by_source_and_target(tmp_path: Path) -> None:
    plan = sample_plan()
    many = [*plan.lines, *plan.lines, *plan.lines]  # each (source, target) three times
    big = plan.model_copy(update={"lines": many})
    path = tmp_path / "big.html"
    path.write_text(render_html(big, max_lines=10), encoding="utf-8")
    dom = _Dom()
    dom.feed(chromium(tmp_path, path, "--dump-dom").stdout)
    text = " ".join(" ".join(dom.text).split())
    assert "18 lines: grouped by source offer and target." in text
    assert "All lines (18)" in text and "Gaps (6)" in text and "Target price unknown (3)" in text
    assert len(dom.find("tr", "planned")) == 5 and len(dom.find("tr", "gap")) == 2
    web = next(line for line in plan.lines if line.source_name == "s3.large.2")
    assert web.monthly_before is not None
    assert f"{web.monthly_before * 3:,.2f} EUR" in text  # three lines added up
    assert len(dom.find("table", "grouped")) == 3  # gaps, unknown prices, lines
    # below the threshold, one row per line
    assert render_html(big, max_lines=18).count('class="planned"') == 12


def test_page_carries_a_strict_csp_and_isolates_bidi_controls() -> None:
    import base64
    import hashlib
    import re

    from cloudcat.report import CSP

    plan = sample_plan()
    plan.lines[0].item = "invoice\u202egpj.exe \x1b[31m"
    html = render_html(plan)
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert meta and meta.group(1) == CSP
    assert "default-src 'none'" in CSP and "script-src" not in CSP and "'unsafe-inline'" not in CSP
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in CSP  # the one stylesheet, by its hash
    assert ' style="' not in html  # no inline style attribute (the policy would refuse it)
    assert "\u202e" not in html and "\x1b" not in html
    assert "invoice\\u202egpj.exe \\x1b[31m" in html


def test_provenance_footer_names_snapshot_read_times_and_price_books() -> None:
    from cloudcat.report import Provenance

    read = dt.datetime(2025, 3, 1, 8, 30, tzinfo=dt.UTC)
    html = render_html(sample_plan(), provenance=Provenance(
        snapshot=42, snapshot_created=read, read_at={"fe": read, "cav": None},
        price_books=["prices/fe.csv", "prices/cav.yaml"]))
    dom = _Dom()
    dom.feed(html)
    text = " ".join(" ".join(dom.text).split())
    assert "from snapshot 42, stored 2025-03-01 08:30 UTC" in text
    assert "fe : 2025-03-01 08:30 UTC" in text or "fe: 2025-03-01 08:30 UTC" in text
    assert "cav : last read failed" in text or "cav: last read failed" in text
    assert "prices/fe.csv" in text and "prices/cav.yaml" in text


_MEASURE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="{src}" style="border:0;width:{width}px;height:3000px"></iframe>
<script>
document.getElementById('f').addEventListener('load', () => {{
  const doc = document.getElementById('f').contentDocument;
  const out = document.createElement('pre');
  out.id = 'measure';
  out.textContent = JSON.stringify({{scroll: doc.documentElement.scrollWidth, client: doc.documentElement.clientWidth,
    table: doc.getElementById('lines-table').getBoundingClientRect().right}});
  document.body.appendChild(out);
}});
</script></body></html>"""


@pytest.mark.parametrize("width", [1400, 800])
def test_lines_table_wraps_within_the_window(tmp_path: Path, width: int) -> None:
    import json
    import re

    plan = sample_plan()
    for line in plan.lines:  # long unbroken names, as clouds have them
        line.item = line.item + "-" + "x" * 60
        line.source = line.source + "/" + "very-long-offer-name-without-spaces" * 2
    page = tmp_path / "plan.html"
    page.write_text(render_html(plan), encoding="utf-8")
    harness = tmp_path / "measure.html"
    harness.write_text(_MEASURE.format(src=page.name, width=width), encoding="utf-8")
    dom = chromium(tmp_path, harness, "--allow-file-access-from-files", "--virtual-time-budget=5000",
                   f"--window-size={width + 20},1200", "--dump-dom").stdout
    found = re.search(r'<pre id="measure">(.*?)</pre>', dom)
    assert found, dom[-2000:]
    measure = json.loads(found.group(1).replace("&quot;", '"'))
    assert measure["scroll"] <= measure["client"], measure  # nothing overflows sideways
    assert measure["table"] <= width, measure
    shot = tmp_path / f"plan-{width}.png"
    chromium(tmp_path, page, "--hide-scrollbars", f"--window-size={width},1400", f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000
