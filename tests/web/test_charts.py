"""The SVG charts: geometry in the viewBox, escaped text, line styles per kind."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from lockstep.web.charts import Series, line_chart, sparkline

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    # The markup is meant to be embedded in HTML; give it the namespace to parse it as XML.
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def points_of(el: ET.Element) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in el.attrib["points"].split()]  # type: ignore[misc]


def test_line_chart_maps_the_domain_onto_the_plot_area():
    svg = parse(
        line_chart(
            series=[Series("Progress", [(0, 0), (5, 50), (10, 100)])],
            x_domain=(0, 10),
            y_domain=(0, 100),
            title="History",
            width=600,
            height=200,
        )
    )
    (line,) = svg.iter(f"{SVG}polyline")
    (x0, y0), (xm, ym), (x1, y1) = points_of(line)
    assert x0 < xm < x1 and x1 <= 600
    assert y0 > ym > y1 >= 0  # larger values sit higher
    assert xm == pytest.approx((x0 + x1) / 2, abs=0.1)
    assert ym == pytest.approx((y0 + y1) / 2, abs=0.1)
    assert len(list(svg.iter(f"{SVG}circle"))) == 3  # actual check-ins are dotted


def test_each_kind_has_its_own_class_and_pace_has_no_dots():
    svg = parse(
        line_chart(
            series=[
                Series("Actual", [(0, 0), (4, 30)]),
                Series("Pace", [(0, 0), (10, 100)], kind="pace"),
                Series("Forecast", [(4, 30), (10, 80)], kind="forecast"),
            ],
            x_domain=(0, 10),
            y_domain=(0, 100),
            title="t",
        )
    )
    classes = [p.attrib["class"] for p in svg.iter(f"{SVG}polyline")]
    assert classes == [
        "chart__line chart__line--actual",
        "chart__line chart__line--pace",
        "chart__line chart__line--forecast",
    ]
    assert len(list(svg.iter(f"{SVG}circle"))) == 2
    legend = [t.text for t in svg.iter(f"{SVG}text") if t.attrib["class"] == "chart__legend"]
    assert legend == ["Actual", "Pace", "Forecast"]


def test_values_outside_the_domain_are_clamped_to_the_plot_area():
    svg = parse(
        line_chart(
            series=[Series("v", [(-5, -50), (20, 500)])],
            x_domain=(0, 10),
            y_domain=(0, 100),
            title="t",
            width=300,
            height=100,
        )
    )
    for x, y in points_of(next(svg.iter(f"{SVG}polyline"))):
        assert 0 <= x <= 300 and 0 <= y <= 100


def test_text_is_escaped_and_the_chart_is_labelled():
    markup = line_chart(
        series=[Series("<b>x</b>", [(0, 1), (1, 2)])],
        x_domain=(0, 1),
        y_domain=(0, 2),
        x_ticks=[(0, "<i>start")],
        title="Visits & <script>",
        band=(1, 2),
    )
    assert "<script>" not in markup and "<b>" not in markup and "<i>" not in markup
    svg = parse(markup)
    title = svg.find(f"{SVG}title")
    assert title is not None and title.text == "Visits & <script>"
    assert svg.attrib["aria-labelledby"] == title.attrib["id"]
    assert svg.attrib["role"] == "img"
    (band,) = svg.iter(f"{SVG}rect")
    assert float(band.attrib["height"]) > 0


def test_a_single_point_and_a_flat_domain_still_draw():
    svg = parse(
        line_chart(series=[Series("v", [(3, 3)])], x_domain=(3, 3), y_domain=(3, 3), title="t")
    )
    assert not list(svg.iter(f"{SVG}polyline"))
    assert len(list(svg.iter(f"{SVG}circle"))) == 1


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        Series("x", [], kind="bars")


def test_sparkline_keeps_the_band_in_view_and_dots_the_latest_value():
    svg = parse(sparkline([10, 12, 11], band=(0, 100), title="CAC"))
    line = next(svg.iter(f"{SVG}polyline"))
    ys = [y for _, y in points_of(line)]
    # With the band 0..100 in view, values 10..12 sit close together near the bottom.
    assert max(ys) - min(ys) < 3
    assert min(ys) > 20
    dot = next(svg.iter(f"{SVG}circle"))
    assert float(dot.attrib["cx"]) == pytest.approx(points_of(line)[-1][0])
    (band,) = svg.iter(f"{SVG}rect")
    assert float(band.attrib["y"]) == pytest.approx(3, abs=0.1)


def test_sparkline_open_band_and_empty_series():
    svg = parse(sparkline([5, 6, 7, 30], band=(None, 10), title="response time"))
    (band,) = svg.iter(f"{SVG}rect")
    assert float(band.attrib["y"]) + float(band.attrib["height"]) == pytest.approx(32)
    empty = parse(sparkline([], title="nothing yet"))
    assert not list(empty.iter(f"{SVG}polyline"))
    assert re.search("nothing yet", sparkline([], title="nothing yet"))
