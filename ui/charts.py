"""The check history as charts (Altair): a card's 24 h sparkline, and the History
dialog's latency over time and status timeline.

Checks are summed up in buckets of time (:func:`buckets`): a connection checked
every minute has 43,200 checks in 30 days, more points than a chart can show or
a browser should draw.  Bucket edges are whole multiples of the bucket's width
since the epoch, so a bucket's figures don't move between reruns.  A bucket's
latency is the median of all its checks, failed ones too (a timeout shows as
slow), and its mark is red where a check failed.

Times go to Vega-Lite as milliseconds since the epoch, which it shows on the
clock of the browser's time zone.

A card's sparkline is drawn on every rerun of the Connections screen, 20 cards
to a page, and building an Altair chart takes about 15 ms (its objects are
validated against the schema as they are made): so each chart's spec is built
once per process, and its data, and the x axis's ends, given at each drawing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median_low
from typing import Any

import altair as alt
import streamlit as st

from connections_core import CheckRecord

FAILED_COLOUR = "#ff2b2b"
LINE_COLOUR = "#6b7a90"
#: a bucket's state -> its colour on the status timeline
STATES = {"All passed": "#21c354", "Some failed": "#ffa421", "All failed": FAILED_COLOUR}

#: a bucket's figures: ``at`` and ``end`` (ms since the epoch), ``checks``, ``failures``,
#: ``latency_ms`` (their median) and ``state`` (a key of :data:`STATES`)
Row = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Span:
    """A time range the charts show, and the width of its buckets."""

    label: str
    length: timedelta
    bucket: timedelta


#: what the History dialog offers, shortest first
SPANS: tuple[Span, ...] = (Span("24 h", timedelta(hours=24), timedelta(minutes=10)),
                           Span("7 d", timedelta(days=7), timedelta(hours=1)),
                           Span("30 d", timedelta(days=30), timedelta(hours=4)))
#: a card's sparkline
SPARKLINE = Span("24 h", timedelta(hours=24), timedelta(minutes=30))
SPARKLINE_WIDTH, SPARKLINE_HEIGHT = 180, 36


def millis(at: datetime) -> int:
    """Milliseconds since the epoch, as Vega-Lite reads a time."""
    return (at - _EPOCH) // _MS


def buckets(records: Iterable[CheckRecord], width: timedelta) -> list[Row]:
    """The checks summed up per bucket of ``width``, oldest first; a bucket without
    checks is left out (the chart shows a gap)."""
    size = width // _MS
    found: dict[int, list[CheckRecord]] = {}
    for record in records:
        found.setdefault(millis(record.at) // size, []).append(record)
    return [_bucket(n * size, size, found[n]) for n in sorted(found)]


def _bucket(start: int, size: int, checks: Sequence[CheckRecord]) -> Row:
    failures = sum(not check.success for check in checks)
    state = ("All passed" if not failures else
             "All failed" if failures == len(checks) else "Some failed")
    return {"at": start, "end": start + size, "checks": len(checks), "failures": failures,
            "latency_ms": median_low(check.latency_ms for check in checks), "state": state}


# -- the charts --------------------------------------------------------------------------

def sparkline(rows: Sequence[Row], now: datetime, *, key: str) -> None:
    """Latency over the 24 h before ``now``, a point per bucket of :func:`buckets`, red
    where a check failed."""
    _draw(_sparkline_spec(), rows, SPARKLINE, now, key=key, width=SPARKLINE_WIDTH,
          height=SPARKLINE_HEIGHT, alt="Latency over the last 24 hours, red where a check "
                                       "failed")


def latency_chart(rows: Sequence[Row], span: Span, now: datetime) -> None:
    """Latency over ``span``, a point per bucket, red where a check failed."""
    _draw(_latency_spec(), rows, span, now, key="conn_history_latency", height=200,
          alt=f"Latency over the last {span.label}, red where a check failed")


def status_timeline(rows: Sequence[Row], span: Span, now: datetime) -> None:
    """A bar per bucket over ``span``: green when every check passed, amber when some
    failed, red when all did; nothing where there was no check."""
    _draw(_status_spec(), rows, span, now, key="conn_history_status", height=90,
          alt=f"Checks over the last {span.label}: passed, some failed, or all failed")


def _draw(spec: Mapping[str, Any], rows: Sequence[Row], span: Span, now: datetime, *,
          key: str, height: int, width: int | None = None, alt: str) -> None:
    """Draw a chart's spec with its rows, its x axis from ``now - span`` to ``now``.

    The rows go inline in a layer, where Streamlit leaves them in the spec: as JSON
    they cost far less than the Arrow table it makes of a chart's data, and Vega-Lite
    reads their times as times (from Arrow, a 64-bit integer reaches it as a BigInt).
    """
    drawn = {**{name: part for name, part in spec.items() if name not in _DRAWN},
             "params": [{"name": "start", "value": millis(now - span.length)},
                        {"name": "end", "value": millis(now)}],
             "layer": [{"data": {"values": list(rows)}, "layer": spec["layer"]}]}
    st.vega_lite_chart(spec=drawn, key=key, width=width or "stretch", height=height, alt=alt)


_DRAWN = ("data", "datasets", "params", "layer")  # the parts each drawing makes anew


# -- their specs, built once per process (an Altair chart takes ~15 ms to build) ----------
# Each is a layered chart without data, whose x axis runs between the parameters
# ``start`` and ``end``; never changed (each drawing makes a spec around its parts).

@functools.cache
def _sparkline_spec() -> dict[str, Any]:
    x = alt.X("at:T", axis=None, scale=_between_start_and_end())
    y = alt.Y("latency_ms:Q", axis=None, scale=alt.Scale(zero=False))  # its own ups and downs
    # Padding as an object: Streamlit sets its sides (a number makes its script fail).
    return _spec(alt.layer(_line(x, y, size=8), _failed(x, y, size=40))
                 .properties(padding={"top": 4, "bottom": 4, "left": 4, "right": 4})
                 .configure_view(stroke=None))


@functools.cache
def _latency_spec() -> dict[str, Any]:
    x = alt.X("at:T", title=None, scale=_between_start_and_end())
    y = alt.Y("latency_ms:Q", title="Latency (ms)", scale=alt.Scale(zero=True))
    return _spec(alt.layer(_line(x, y, size=12), _failed(x, y, size=50)))


@functools.cache
def _status_spec() -> dict[str, Any]:
    colour = alt.Color("state:N", title=None, legend=alt.Legend(orient="right"),
                       scale=alt.Scale(domain=list(STATES), range=list(STATES.values())))
    bars = _empty().mark_rect().encode(
        x=alt.X("at:T", title=None, scale=_between_start_and_end()), x2="end:T",
        color=colour, tooltip=_tooltip())
    return _spec(alt.layer(bars))


def _line(x: alt.X, y: alt.Y, *, size: int) -> alt.Chart:
    return _empty().mark_line(color=LINE_COLOUR, strokeWidth=1.5, point=alt.OverlayMarkDef(
        color=LINE_COLOUR, size=size)).encode(x=x, y=y, tooltip=_tooltip())


def _failed(x: alt.X, y: alt.Y, *, size: int) -> alt.Chart:
    """The buckets where a check failed, as red points over the line."""
    return _empty().transform_filter("datum.failures > 0").mark_circle(
        color=FAILED_COLOUR, size=size, opacity=1).encode(x=x, y=y, tooltip=_tooltip())


def _empty() -> alt.Chart:
    return alt.Chart(alt.InlineData(values=[]))


def _between_start_and_end() -> alt.Scale:
    return alt.Scale(domain=[alt.ExprRef("start"), alt.ExprRef("end")])


def _spec(chart: alt.LayerChart) -> dict[str, Any]:
    """The chart's spec, with the parameters of its x axis's ends, and without data: the
    layers take the data :func:`_draw` gives them."""
    with_ends = chart.add_params(alt.param(name="start", value=0),
                                 alt.param(name="end", value=1))
    spec: dict[str, Any] = with_ends.to_dict()
    spec["layer"] = [{name: part for name, part in layer.items() if name != "data"}
                     for layer in spec["layer"]]
    return spec


def _tooltip() -> list[alt.Tooltip]:
    return [alt.Tooltip("at:T", title="From", format="%Y-%m-%d %H:%M"),
            alt.Tooltip("checks:Q", title="Checks"),
            alt.Tooltip("failures:Q", title="Failed"),
            alt.Tooltip("latency_ms:Q", title="Median latency (ms)")]
