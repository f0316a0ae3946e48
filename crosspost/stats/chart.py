"""The subscribers chart (PNG). matplotlib is imported here only, when a chart is drawn, so the
running service does not carry it in memory until someone asks for one."""

from __future__ import annotations

import io
import threading
from datetime import date
from itertools import cycle

from crosspost import texts
from crosspost.stats.render import long_date, platform_name
from crosspost.stats.report import Report

WIDTH_PX = 1200
HEIGHT_PX = 750
DPI = 100
# Printed in grey, lines are told apart by style and marker; the colours only help on screen.
LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
# The bot draws in a worker thread; matplotlib's font cache and backend switch are not meant for
# two threads at once.
_DRAWING = threading.Lock()
GREYS_FRIENDLY_COLOURS = ("#000000", "#1f4e9a", "#b2442a", "#4d7f2a", "#6b3d8c", "#7f6a00")


def render_png(report: Report, *, width_px: int = WIDTH_PX, height_px: int = HEIGHT_PX) -> bytes:
    """Subscribers over time per account × platform; Russian labels, dates on the axis."""
    with _DRAWING:
        return _draw(report, width_px, height_px)


def _draw(report: Report, width_px: int, height_px: int) -> bytes:
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, DateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(width_px / DPI, height_px / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    start = min(
        (day for points in report.series.values() for day, _ in points), default=report.compare
    )
    axes.set_title(
        texts.STATS_CHART_TITLE.format(start=long_date(start), end=long_date(report.on))
    )
    owners = {owner.account: i for i, owner in enumerate(report.owners)}
    platform_markers: dict[str, str] = {}
    marker_pool = cycle(MARKERS)
    drawn = 0
    for owner in report.owners:
        for line in owner.lines:
            points = report.series.get((line.account, line.platform), [])
            if not points:
                continue
            if line.platform not in platform_markers:
                platform_markers[line.platform] = next(marker_pool)
            days: list[date] = [day for day, _ in points]
            values = [value for _, value in points]
            index = owners[line.account]
            axes.plot(
                np.array(days, dtype="datetime64[D]"),
                values,
                linestyle=LINE_STYLES[index % len(LINE_STYLES)],
                marker=platform_markers[line.platform],
                markevery=max(1, len(points) // 12),
                markersize=7,
                linewidth=2,
                color=GREYS_FRIENDLY_COLOURS[drawn % len(GREYS_FRIENDLY_COLOURS)],
                label=f"{owner.title} · {platform_name(line.platform)}",
            )
            drawn += 1
    if drawn:
        axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2, fontsize=9)
        locator = AutoDateLocator(minticks=3, maxticks=12)  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(DateFormatter("%d.%m.%Y"))  # type: ignore[no-untyped-call]
        for label in axes.get_xticklabels():
            label.set_rotation(30)
            label.set_horizontalalignment("right")
    else:
        axes.text(
            0.5, 0.5, texts.STATS_CHART_NO_DATA, ha="center", va="center", transform=axes.transAxes
        )
        axes.set_xticks([])
        axes.set_yticks([])
    axes.set_xlabel(texts.STATS_CHART_X)
    axes.set_ylabel(texts.STATS_CHART_Y)
    axes.yaxis.set_major_formatter(
        FuncFormatter(lambda value, _pos: f"{value:,.0f}".replace(",", " "))
    )
    axes.grid(True, color="#bbbbbb", linewidth=0.6)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
