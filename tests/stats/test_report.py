"""Issue 10, point 6: the yearly report against the emulators holding the seed's six numbers
and a year-earlier snapshot 50 % lower."""

from __future__ import annotations

import csv
import io
import struct
from datetime import date

from sqlalchemy import func, select, text

from crosspost.db import PostViewsRow, SubscriberSnapshotRow
from crosspost.models import Platform
from crosspost.sandbox import ACCOUNTS, STAFF_CHAT_ID
from crosspost.stats.chart import HEIGHT_PX, WIDTH_PX, render_png
from crosspost.stats.render import (
    number,
    percent,
    render_bot,
    render_csv,
    render_markdown,
    render_text,
)
from crosspost.stats.report import Report, build_report
from tests.stats.conftest import (
    EARLIER,
    NOW,
    ON,
    SEED,
    YEAR_AGO,
    World,
    import_year_ago,
    publish_record,
)

OWNERS = ("administration", "head")
PLATFORMS = ("telegram", "vk", "ok")


async def collected_report(world: World) -> Report:
    await import_year_ago(world.app)
    collection = await world.app.collect_stats()
    assert not collection.failed
    return await build_report(
        settings=world.app.settings, sessionmaker=world.app.sessionmaker, on=ON
    )


def pct(now: int, before: int) -> float:
    return (now - before) * 100 / before


async def test_table_numbers_growth_and_totals(world: World) -> None:
    report = await collected_report(world)
    assert report.compare == YEAR_AGO
    lines = {(ln.account, ln.platform): ln for ln in report.lines}
    assert set(lines) == set(SEED)
    for key, line in lines.items():
        assert line.on.subscribers == SEED[key]
        assert line.on.day == ON
        assert line.compare.subscribers == EARLIER[key]
        assert line.compare.day == YEAR_AGO
        assert line.growth == SEED[key] - EARLIER[key]
        assert line.growth_percent == pct(SEED[key], EARLIER[key])
        assert abs((line.growth_percent or 0) - 100) < 0.2  # half a year ago: about doubled
    for owner in report.owners:
        now = sum(SEED[(owner.account, p)] for p in PLATFORMS)
        before = sum(EARLIER[(owner.account, p)] for p in PLATFORMS)
        assert (owner.total.on, owner.total.compare) == (now, before)
        assert owner.total.growth == now - before
        assert owner.total.growth_percent == pct(now, before)
    assert report.total.on == sum(SEED.values()) == 25425
    assert report.total.compare == sum(EARLIER.values())
    assert report.total.growth == 25425 - sum(EARLIER.values())
    assert report.total.complete


async def test_text_is_the_yearly_passage_with_every_number(world: World) -> None:
    report = await collected_report(world)
    body = render_text(report)
    assert body.startswith("По состоянию на 1 января 2024 года количество подписчиков составляет:")
    assert (
        "Официальные аккаунты Администрации городского округа Спасск-Дальний: "
        "Telegram — 7855, ВКонтакте — 4236, Одноклассники — 2357"
    ) in body
    assert (
        "Официальные аккаунты Главы городского округа Спасск-Дальний: "
        "Telegram — 2542, ВКонтакте — 7521, Одноклассники — 914"
    ) in body
    for key in SEED:
        assert number(SEED[key]) in body
        assert f"+{number(SEED[key] - EARLIER[key])}" in body
        assert percent(pct(SEED[key], EARLIER[key])) in body
    assert number(25425) == "25\u00a0425"
    assert "— 25\u00a0425." in body
    assert "По сравнению с 1 января 2023 года прирост подписчиков составил" in body
    assert "Использованы данные на 1 января 2024 года и на 1 января 2023 года." in body
    assert "человек" in body


async def test_markdown_table(world: World) -> None:
    body = render_markdown(await collected_report(world))
    assert "| Аккаунт | Площадка | на 01.01.2024 | на 01.01.2023 |" in body
    assert (
        "| Администрация городского округа Спасск-Дальний | Telegram | 7855 | 3927 | +3928 |"
        in body
    )
    assert "**25\u00a0425**" in body


async def test_csv_parses_back(world: World) -> None:
    body = render_csv(await collected_report(world))
    rows = list(csv.DictReader(io.StringIO(body)))
    lines = {(r["account"], r["platform"]): r for r in rows}
    for key, count in SEED.items():
        row = lines[key]
        assert int(row["subscribers"]) == count
        assert int(row["compare_subscribers"]) == EARLIER[key]
        assert int(row["growth"]) == count - EARLIER[key]
        assert float(row["growth_percent"]) == round(pct(count, EARLIER[key]), 2)
        assert date.fromisoformat(row["on_snapshot"]) == ON
        assert date.fromisoformat(row["compare_snapshot"]) == YEAR_AGO
    assert int(lines[("head", "total")]["subscribers"]) == 2542 + 7521 + 914
    assert int(lines[("total", "total")]["subscribers"]) == 25425


async def test_png_opens_as_a_png_of_the_set_size(world: World) -> None:
    png = render_png(await collected_report(world))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (WIDTH_PX, HEIGHT_PX)
    import matplotlib.image

    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (HEIGHT_PX, WIDTH_PX)


async def test_a_failing_platform_leaves_the_other_five_stored_and_reported(
    world: World,
) -> None:
    await import_year_ago(world.app)
    world.ok.expire_token("sandbox-ok-token-head")
    collection = await world.app.collect_stats()
    (failed,) = collection.failed
    assert (failed.account, failed.platform, failed.reason) == ("head", "ok", "session_expired")
    stored = {(r.account, r.platform): r.subscribers for r in collection.readings if r.ok}
    assert stored == {k: v for k, v in SEED.items() if k != ("head", "ok")}
    alert = await world.tg.wait_for_sent(lambda s: s.chat_id == STAFF_CHAT_ID)
    assert "Глава городского округа Спасск-Дальний · Одноклассники" in (alert[0].text or "")

    await world.app.collect_stats()  # fails again the same day: staff are not told twice
    await world.app.collect_stats()
    alerts = [s for s in world.tg.sent(STAFF_CHAT_ID) if "Статистика" in (s.text or "")]
    assert len(alerts) == 1

    async with world.app.sessionmaker() as session:
        rows = list(await session.scalars(select(SubscriberSnapshotRow)))
        dump = " ".join(
            str(v)
            for r in await session.execute(text("select * from subscriber_snapshots"))
            for v in r
        )
    assert len([r for r in rows if r.day == ON]) == 6
    (failure,) = [r for r in rows if r.error_reason is not None]
    assert failure.subscribers is None
    assert failure.error_detail
    for secret in ("sandbox-ok-token", "sandbox-app-secret", "vk1.a.sandbox", "SANDBOX-bot-token"):
        assert secret not in dump

    report = await build_report(
        settings=world.app.settings, sessionmaker=world.app.sessionmaker, on=ON
    )
    lines = {(ln.account, ln.platform): ln for ln in report.lines}
    for key in SEED:
        if key != ("head", "ok"):
            assert lines[key].on.subscribers == SEED[key]
    # No number today: the nearest earlier one is used, and its date is named.
    assert lines[("head", "ok")].on.subscribers == EARLIER[("head", "ok")]
    assert lines[("head", "ok")].on.day == YEAR_AGO
    body = render_text(report)
    assert "Глава городского округа Спасск-Дальний · Одноклассники — на 1 января 2023 года" in body


async def test_failure_after_recovery_is_reported_again(world: World) -> None:
    world.ok.expire_token("sandbox-ok-token-head")
    await world.app.collect_stats()
    world.ok.expire_token("sandbox-ok-token-head", expired=False)
    await world.app.collect_stats()
    world.ok.expire_token("sandbox-ok-token-head")
    world.app.clock = lambda: NOW.replace(day=31, hour=18)  # still 1 January locally
    await world.app.collect_stats()
    alerts = [s for s in world.tg.sent(STAFF_CHAT_ID) if "Статистика" in (s.text or "")]
    assert len(alerts) == 2


async def test_collecting_twice_a_day_keeps_the_latest(world: World) -> None:
    await world.app.collect_stats()
    world.vk.set_members(ACCOUNTS["head"]["vk_group"], 7600)
    await world.app.collect_stats()
    async with world.app.sessionmaker() as session:
        rows = list(await session.scalars(select(SubscriberSnapshotRow)))
    assert len(rows) == 6
    assert {(r.account, r.platform): r.subscribers for r in rows}[("head", "vk")] == 7600


async def test_no_data_is_said_not_zero(world: World) -> None:
    report = await build_report(
        settings=world.app.settings, sessionmaker=world.app.sessionmaker, on=ON
    )
    body = render_text(report)
    assert "Telegram — нет данных" in body
    assert " — 0" not in body.split("Публикации")[0]
    assert "Сравнить с 1 января 2023 года нельзя" in body


async def test_posts_per_month_and_reach(world: World) -> None:
    adm = ACCOUNTS["administration"]
    vk_post = world.vk.add_post(adm["vk_group"], "Новость")
    world.vk.set_views(adm["vk_group"], vk_post.post_id, 1500)
    topic = world.ok.add_topic(adm["ok_group"], "Новость")
    world.ok.set_views(topic.topic_id, 640)
    march = NOW.replace(month=12, day=20)  # 21 December locally
    await publish_record(world.app, "administration", Platform.VK, str(vk_post.post_id), march)
    await publish_record(world.app, "administration", Platform.OK, topic.topic_id, march)
    await publish_record(world.app, "administration", Platform.TELEGRAM, "77", march)
    collection = await world.app.collect_stats()
    assert collection.views_read == 2
    async with world.app.sessionmaker() as session:
        assert await session.scalar(select(func.count(PostViewsRow.id))) == 2
    report = await build_report(
        settings=world.app.settings, sessionmaker=world.app.sessionmaker, on=ON
    )
    december = date(2023, 12, 1)
    assert report.posts[("administration", "vk")] == {december: 1}
    assert report.posts[("administration", "telegram")] == {december: 1}
    assert report.views[("administration", "vk")] == {december: 1500}
    assert report.views[("administration", "ok")] == {december: 640}
    assert len(report.months) == 12
    body = render_text(report)
    assert "Публикации с 1 января 2023 года по 31 декабря 2023 года:" in body
    assert "декабрь 2023: Telegram — 1, ВКонтакте — 1, Одноклассники — 1" in body
    assert "ноябрь 2023" not in body  # months without posts are left out of the prose
    assert "ВКонтакте — 1500, Одноклассники — 640" in body
    assert "бот не может получить число просмотров" in body
    md = render_markdown(report)
    assert "| Администрация городского округа Спасск-Дальний | ВКонтакте |" in md
    assert "1500" in md


async def test_bot_message(world: World) -> None:
    body = render_bot(await collected_report(world))
    assert "Telegram: 7855 (было 3927; +3928 человек (+100,0\u00a0%))" in body
    assert "Всего во всех аккаунтах: 25\u00a0425" in body
