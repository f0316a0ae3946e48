"""The report as Russian prose (text), Markdown and CSV tables, and the bot's message."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, timedelta

from crosspost import texts
from crosspost.models import Platform
from crosspost.stats.report import Cell, Line, Owner, Report, Total

NBSP = "\u00a0"
MINUS = "\u2212"
TELEGRAM = str(Platform.TELEGRAM)


def plural(n: int, forms: tuple[str, str, str]) -> str:
    """Russian plural form for n: 1 человек, 2 человека, 5 человек, 21 человек."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return forms[0]
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return forms[1]
    return forms[2]


def number(n: int) -> str:
    """7855, 25 425 (Russian typography groups five digits and more, with no-break spaces)."""
    sign = MINUS if n < 0 else ""
    digits = str(abs(n))
    if len(digits) <= 4:
        return sign + digits
    groups: list[str] = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return sign + NBSP.join(groups)


def signed(n: int) -> str:
    return "+" + number(n) if n > 0 else number(n)


def percent(p: float) -> str:
    text = f"{abs(p):.1f}".replace(".", ",")
    sign = "+" if p > 0 else MINUS if p < 0 and text != "0,0" else ""
    return f"{sign}{text}{NBSP}%"


def long_date(day: date) -> str:
    return texts.STATS_DATE.format(
        day=day.day, month=texts.STATS_MONTHS_GENITIVE[day.month - 1], year=day.year
    )


def month_name(month: date) -> str:
    return texts.STATS_MONTH.format(month=texts.STATS_MONTHS[month.month - 1], year=month.year)


def short_date(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def platform_name(platform: str) -> str:
    return texts.STATS_PLATFORM_NAMES.get(platform, platform)


def owner_name(owner: Owner) -> str:
    return texts.STATS_OWNER.format(owner=owner.genitive)


def _count(value: int | None) -> str:
    return texts.STATS_NO_DATA if value is None else number(value)


def _change(change: int | None, pct: float | None) -> str:
    if change is None:
        return texts.STATS_NO_DATA
    people = signed(change)
    if pct is None:
        return f"{people} {plural(change, texts.STATS_PEOPLE)}"
    return texts.STATS_TEXT_GROWTH.format(
        people=people, people_word=plural(change, texts.STATS_PEOPLE), percent=percent(pct)
    )


def _dates_note(report: Report) -> str:
    moved: list[str] = []
    for owner in report.owners:
        for line in owner.lines:
            for cell, asked in ((line.on, report.on), (line.compare, report.compare)):
                if cell.day is not None and cell.day != asked:
                    moved.append(
                        texts.STATS_TEXT_DATE_ITEM.format(
                            owner_short=owner.title,
                            platform=platform_name(line.platform),
                            date=long_date(cell.day),
                        )
                    )
    if moved:
        return texts.STATS_TEXT_DATES_NEAREST.format(items="; ".join(moved))
    return texts.STATS_TEXT_DATES_EXACT.format(
        on=long_date(report.on), compare=long_date(report.compare)
    )


def _period_end(report: Report) -> date:
    return report.on - timedelta(days=1)


def _has_period(report: Report) -> bool:
    return report.compare < report.on


# -- text ---------------------------------------------------------------------------------------


def render_text(report: Report) -> str:
    """Prose to paste into the yearly report, in the shape of the one staff wrote by hand."""
    out = [texts.STATS_TEXT_AS_OF.format(date=long_date(report.on))]
    for owner in report.owners:
        counts = ", ".join(
            texts.STATS_TEXT_COUNT.format(
                platform=platform_name(ln.platform), count=_count(ln.on.subscribers)
            )
            for ln in owner.lines
        )
        out.append(
            texts.STATS_TEXT_OWNER.format(
                owner=owner_name(owner), counts=counts, total=_count(owner.total.on)
            )
        )
    total = report.total
    out.append(texts.STATS_TEXT_TOTAL.format(total=_count(total.on)))
    out.append("")
    if total.growth is None:
        out.append(texts.STATS_TEXT_NO_GROWTH.format(date=long_date(report.compare)))
    else:
        intro = (
            texts.STATS_TEXT_GROWTH_INTRO if total.growth >= 0 else texts.STATS_TEXT_DECLINE_INTRO
        )
        out.append(
            intro.format(
                date=long_date(report.compare),
                growth=_change(total.growth, total.growth_percent),
            )
        )
        for owner in report.owners:
            changes = ", ".join(
                texts.STATS_TEXT_COUNT.format(
                    platform=platform_name(ln.platform),
                    count=_change(ln.growth, ln.growth_percent),
                )
                for ln in owner.lines
            )
            out.append(
                texts.STATS_TEXT_GROWTH_OWNER.format(
                    owner=owner_name(owner),
                    changes=changes,
                    total=_change(owner.total.growth, owner.total.growth_percent),
                )
            )
    if not total.complete:
        out.append(texts.STATS_TEXT_PARTIAL)
    out.append(_dates_note(report))
    if _has_period(report):
        out.append("")
        out.extend(_posts_text(report))
        out.append("")
        out.extend(_reach_text(report))
    return "\n".join(out) + "\n"


def _posts_text(report: Report) -> list[str]:
    out = [
        texts.STATS_TEXT_POSTS_TITLE.format(
            start=long_date(report.compare), end=long_date(_period_end(report))
        )
    ]
    for owner in report.owners:
        totals = ", ".join(
            texts.STATS_TEXT_COUNT.format(
                platform=platform_name(ln.platform),
                count=number(sum(report.posts.get((ln.account, ln.platform), {}).values())),
            )
            for ln in owner.lines
        )
        out.append(texts.STATS_TEXT_POSTS_OWNER.format(owner=owner_name(owner), counts=totals))
        for month in report.months:
            if not any(
                report.posts.get((ln.account, ln.platform), {}).get(month) for ln in owner.lines
            ):
                continue  # months without posts would only repeat zeros
            per_month = ", ".join(
                texts.STATS_TEXT_COUNT.format(
                    platform=platform_name(ln.platform),
                    count=number(report.posts.get((ln.account, ln.platform), {}).get(month, 0)),
                )
                for ln in owner.lines
            )
            out.append(
                "    "
                + texts.STATS_TEXT_POSTS_MONTH.format(month=month_name(month), counts=per_month)
            )
    return out


def _views_total(report: Report, line: Line) -> int | None:
    per_month = report.views.get((line.account, line.platform))
    return None if not per_month else sum(per_month.values())


def _reach_text(report: Report) -> list[str]:
    out = [texts.STATS_TEXT_REACH_TITLE]
    telegram = False
    for owner in report.owners:
        counts = []
        for ln in owner.lines:
            if ln.platform == TELEGRAM:
                telegram = True
                continue
            counts.append(
                texts.STATS_TEXT_COUNT.format(
                    platform=platform_name(ln.platform), count=_count(_views_total(report, ln))
                )
            )
        if counts:
            out.append(
                texts.STATS_TEXT_REACH_OWNER.format(
                    owner=owner_name(owner), counts=", ".join(counts)
                )
            )
    if telegram:
        out.append(texts.STATS_REACH_TELEGRAM + ".")
    return out


# -- Markdown -------------------------------------------------------------------------------------


def _md_cell(cell: Cell, asked: date) -> str:
    if cell.subscribers is None:
        return texts.STATS_NO_DATA
    shown = number(cell.subscribers)
    return shown if cell.day == asked else f"{shown} ({short_date(cell.day or asked)})"


def _md_change(change: int | None) -> str:
    return texts.STATS_NO_DATA if change is None else signed(change)


def _md_pct(pct: float | None) -> str:
    return "—" if pct is None else percent(pct)


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _md_total(label: str, sub: str, total: Total) -> str:
    return _md_row(
        [
            f"**{label}**",
            sub,
            f"**{_count(total.on)}**",
            f"**{_count(total.compare)}**",
            f"**{_md_change(total.growth)}**",
            f"**{_md_pct(total.growth_percent)}**",
        ]
    )


def render_markdown(report: Report) -> str:
    out = [
        "## "
        + texts.STATS_MD_TITLE.format(on=long_date(report.on), compare=long_date(report.compare)),
        "",
        _md_row(
            [
                texts.STATS_COL_ACCOUNT,
                texts.STATS_COL_PLATFORM,
                texts.STATS_COL_ON.format(date=short_date(report.on)),
                texts.STATS_COL_ON.format(date=short_date(report.compare)),
                texts.STATS_COL_GROWTH_PEOPLE,
                texts.STATS_COL_GROWTH_PERCENT,
            ]
        ),
        "|---|---|--:|--:|--:|--:|",
    ]
    for owner in report.owners:
        for ln in owner.lines:
            out.append(
                _md_row(
                    [
                        owner.title,
                        platform_name(ln.platform),
                        _md_cell(ln.on, report.on),
                        _md_cell(ln.compare, report.compare),
                        _md_change(ln.growth),
                        _md_pct(ln.growth_percent),
                    ]
                )
            )
        out.append(_md_total(owner.title, texts.STATS_ROW_OWNER_TOTAL, owner.total))
    out.append(_md_total(texts.STATS_ROW_TOTAL, "", report.total))
    out += ["", _dates_note(report)]
    if not report.total.complete:
        out.append(texts.STATS_TEXT_PARTIAL)
    if _has_period(report):
        out += ["", "### " + texts.STATS_MD_POSTS_TITLE, ""]
        out += _md_months(report, report.posts, skip_telegram=False)
        out += ["", "### " + texts.STATS_MD_REACH_TITLE, ""]
        out += _md_months(report, report.views, skip_telegram=True)
        if any(ln.platform == TELEGRAM for ln in report.lines):
            out += ["", texts.STATS_MD_REACH_TELEGRAM]
    return "\n".join(out) + "\n"


def _md_months(
    report: Report, values: dict[tuple[str, str], dict[date, int]], *, skip_telegram: bool
) -> list[str]:
    months = [m.strftime("%m.%Y") for m in report.months]
    out = [
        _md_row(
            [texts.STATS_COL_ACCOUNT, texts.STATS_COL_PLATFORM, *months, texts.STATS_COL_TOTAL]
        ),
        "|---|---|" + "--:|" * (len(months) + 1),
    ]
    for owner in report.owners:
        for ln in owner.lines:
            if skip_telegram and ln.platform == TELEGRAM:
                continue
            per_month = values.get((ln.account, ln.platform))
            if per_month is None and skip_telegram:
                cells = [texts.STATS_NO_DATA] * len(months) + [texts.STATS_NO_DATA]
            else:
                counts = [(per_month or {}).get(m, 0) for m in report.months]
                cells = [number(c) for c in counts] + [number(sum(counts))]
            out.append(_md_row([owner.title, platform_name(ln.platform), *cells]))
    return out


# -- CSV ------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "account",
    "title",
    "platform",
    "on",
    "on_snapshot",
    "subscribers",
    "compare",
    "compare_snapshot",
    "compare_subscribers",
    "growth",
    "growth_percent",
)
CSV_TOTAL = "total"


def _csv_value(value: int | float | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value) if not isinstance(value, date) else value.isoformat()


def render_csv(report: Report) -> str:
    """One row per account × platform, then a `total` row per account and one overall:
    machine-readable (ISO dates, plain integers, empty where there is no data)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    on, compare = report.on.isoformat(), report.compare.isoformat()
    for owner in report.owners:
        for ln in owner.lines:
            writer.writerow(
                [
                    owner.account,
                    owner.title,
                    ln.platform,
                    on,
                    _csv_value(ln.on.day),
                    _csv_value(ln.on.subscribers),
                    compare,
                    _csv_value(ln.compare.day),
                    _csv_value(ln.compare.subscribers),
                    _csv_value(ln.growth),
                    _csv_value(ln.growth_percent),
                ]
            )
        writer.writerow(_csv_total(owner.account, owner.title, on, compare, owner.total))
    writer.writerow(_csv_total(CSV_TOTAL, texts.STATS_ROW_TOTAL, on, compare, report.total))
    return buffer.getvalue()


def _csv_total(account: str, title: str, on: str, compare: str, total: Total) -> list[str]:
    return [
        account,
        title,
        CSV_TOTAL,
        on,
        "",
        _csv_value(total.on),
        compare,
        "",
        _csv_value(total.compare),
        _csv_value(total.growth),
        _csv_value(total.growth_percent),
    ]


# -- the staff bot -------------------------------------------------------------------------------


def _bot_line(on: int | None, before: int | None, change: int | None, pct: float | None) -> str:
    if on is None:
        return texts.STATS_NO_DATA
    if before is None or change is None:
        return number(on)
    return texts.STATS_BOT_VALUE.format(
        now=number(on), before=number(before), growth=_change(change, pct)
    )


def render_bot(report: Report) -> str:
    """The /stats answer: per account its platforms now, a year ago and the change."""
    out = [
        texts.STATS_BOT_TITLE.format(on=long_date(report.on), compare=long_date(report.compare))
    ]
    for owner in report.owners:
        out += ["", owner.title]
        for ln in owner.lines:
            line = _bot_line(
                ln.on.subscribers, ln.compare.subscribers, ln.growth, ln.growth_percent
            )
            out.append(
                texts.STATS_BOT_LINE.format(platform=platform_name(ln.platform), value=line)
            )
        t = owner.total
        out.append(
            texts.STATS_BOT_OWNER_TOTAL.format(
                line=_bot_line(t.on, t.compare, t.growth, t.growth_percent)
            )
        )
    t = report.total
    out += [
        "",
        texts.STATS_BOT_TOTAL.format(line=_bot_line(t.on, t.compare, t.growth, t.growth_percent)),
        _dates_note(report),
    ]
    return "\n".join(out)
