"""Hostile and odd input: generated updates through the inbox and the dispatcher, a flood of
strangers and forged buttons; none of it jams intake or stops a channel post."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosspost.db import AuditRow
from crosspost.emulators.telegram import TelegramEmulator
from crosspost.inbox import DONE, FAILED, PENDING
from crosspost.intake.telegram import SOURCE, to_incoming
from crosspost.models import Platform
from tests.adapters.telegram.conftest import CHANNEL_ID, STAFF_ID
from tests.staffbot.bot_harness import (
    HEAD_CHANNEL_ID,
    Harness,
    make_harness,
    running,
)

ADM = "administration"
FUZZ_UPDATES = 10_000
STRANGERS = list(range(800_001, 800_041))
UNKNOWN_CHANNEL = -1005555555555
# What an update may fail with and still count as handled well: aiogram refusing its shape,
# or Telegram refusing an answer to a forged button.
# An id beyond 64 bits parses but the database refuses it (OverflowError): also kept, reported.
EXPECTED_FAILURES = ("ValidationError", "TelegramBadRequest", "OverflowError")


@pytest.fixture
async def harness(
    tg_emulator: TelegramEmulator,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> AsyncIterator[Harness]:
    h = await make_harness(tg_emulator, sessionmaker, tmp_path)
    for user in STRANGERS:
        tg_emulator.add_user(user, f"Чужой{user}")
    async with running(h):
        yield h


# -- strategies ------------------------------------------------------------------------------

ODD_CHARS = st.sampled_from(
    ["a", "я", " ", "\n", "😀", "\ud83d", "\ude00", "\u200d", "\u202e", "<", "&", "*", "_", "`"]
)
# Drawing texts character by character is slow; most come from a pool of odd ones.
TEXT_POOL = [
    "",
    " ",
    "Обычный текст",
    "\ud83d одинокий суррогат",
    "хвост \ude00",
    "😀😀👨‍👩‍👧",
    "<b>не html</b> & *не markdown* _x_ `y`",
    "\u202eперевёрнутый",
    "я" * 5000,
    "😀" * 3000,
    "x" * 70_000,
    "https://example.org/?a=1&b=2 @user #tag",
]
texts = st.one_of(
    st.sampled_from(TEXT_POOL),
    st.sampled_from(TEXT_POOL),
    st.sampled_from(TEXT_POOL),
    st.text(alphabet=ODD_CHARS, max_size=12),
)
entity_types = st.sampled_from(
    ["bold", "italic", "text_link", "url", "mention", "custom_emoji", "pre", "spoiler", "weird"]
)


OFFSETS = st.sampled_from([None, -3, 0, 1, 2, 5, 11, 40, 119, 4999, 70_000])
LENGTHS = st.sampled_from([None, -1, 0, 1, 2, 3, 7, 30, 200, 5000, 10**6])
URLS = st.sampled_from([None, "https://example.org", "javascript:alert(1)", "", "tg://user?id=1"])
entity = st.tuples(entity_types, OFFSETS, LENGTHS, URLS).map(
    lambda t: {
        k: v
        for k, v in {"type": t[0], "offset": t[1], "length": t[2], "url": t[3]}.items()
        if v is not None
    }
)


def entities() -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(entity, max_size=4)


def chat(chat_id: int, kind: str) -> dict[str, Any]:
    return (
        {"id": chat_id, "type": kind, "title": "Канал"}
        if kind != "private"
        else {
            "id": chat_id,
            "type": "private",
            "first_name": "Имя",
        }
    )


# Mostly well-formed (so the handlers run), sometimes not (so parsing refuses them).
MESSAGE_IDS = st.one_of(
    st.integers(1, 10**6), st.integers(1, 10**6), st.sampled_from([0, -1, "12", "x", 2**63])
)
DATES = st.sampled_from([1_764_000_000] * 6 + [0, 2**31 - 1, None, "вчера"])
ODD_KINDS = st.sampled_from(
    [None] * 6
    + [
        ("dice", {"emoji": "🎲", "value": 3}),
        ("location", {"latitude": 43.1, "longitude": 131.9}),
        ("contact", {"phone_number": "+7", "first_name": "Иван"}),
        ("sticker", {"id": "1"}),
        ("poll", {"id": "p", "question": "?", "options": []}),
    ]
)
EXTRA_FIELDS = st.sampled_from([None] * 4 + ["mystery_field", "future_thing", "has_media_spoiler"])
DROPPED = st.sampled_from([None] * 16 + ["chat", "date", "message_id"])


@st.composite
def message(draw: st.DrawFn, chat_id: int, kind: str, sender: int | None) -> dict[str, Any]:
    message_id, date, text, spans, captioned, odd, extra, dropped = draw(
        st.tuples(
            MESSAGE_IDS, DATES, texts, entities(), st.booleans(), ODD_KINDS, EXTRA_FIELDS, DROPPED
        )
    )
    body: dict[str, Any] = {"message_id": message_id, "date": date, "chat": chat(chat_id, kind)}
    if sender is not None:
        body["from"] = {"id": sender, "is_bot": False, "first_name": "Имя"}
    if captioned:
        body["caption"] = text
        body["caption_entities"] = spans
    else:
        body["text"] = text
        body["entities"] = spans
    if odd is not None:
        body[odd[0]] = odd[1]
    if extra is not None:
        body[extra] = {"a": [1, 2]}
    if dropped is not None:
        body.pop(dropped, None)
    return {k: v for k, v in body.items() if v is not None}


@st.composite
def update(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                *["stranger"] * 6,
                *["forged_button"] * 5,
                *["edit_unknown"] * 3,
                *["unknown_channel"] * 2,
                *["unknown_type"] * 2,
                *["group"] * 2,
                "channel",
                "staff_button",
            ]
        )
    )
    stranger = draw(st.sampled_from(STRANGERS))
    if kind == "stranger":
        return {"message": draw(message(stranger, "private", stranger))}
    if kind == "forged_button":
        return {
            "callback_query": {
                "id": str(draw(st.integers(1, 10**12))),
                "from": {"id": stranger, "is_bot": False, "first_name": "Чужой"},
                "chat_instance": "1",
                "data": draw(st.sampled_from(["d:1:now:", "q:cancel:1", "x:yes:1", "r:1:retry"]))
                + draw(st.text(max_size=10)),
            }
        }
    if kind == "staff_button":
        return {
            "callback_query": {
                "id": str(draw(st.integers(1, 10**12))),
                "from": {"id": STAFF_ID, "is_bot": False, "first_name": "Мария"},
                "chat_instance": "1",
                "data": draw(st.sampled_from(["d:999:now:", "q:cancel:999", "x:yes:999", "?"])),
            }
        }
    if kind == "edit_unknown":
        body = draw(message(CHANNEL_ID, "channel", None))
        body["edit_date"] = 1
        return {"edited_channel_post": body}
    if kind == "unknown_channel":
        return {"channel_post": draw(message(UNKNOWN_CHANNEL, "channel", None))}
    if kind == "group":
        return {"message": draw(message(-100777, "supergroup", stranger))}
    if kind == "channel":
        body = draw(message(HEAD_CHANNEL_ID, "channel", None))
        body.pop("photo", None)
        return {"channel_post": body}
    return {draw(st.sampled_from(["business_message", "purchased_paid_media", "zz"])): {"x": 1}}


def generate_updates(count: int) -> list[dict[str, Any]]:
    """`count` generated updates, the same every run (derandomized; no shrinking needed:
    the assertions are about the whole run)."""
    collected: list[dict[str, Any]] = []

    @settings(
        max_examples=count // 50,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(update(), min_size=50, max_size=50))
    def collect(batch: list[dict[str, Any]]) -> None:
        collected.extend(batch)

    collect()
    for n, item in enumerate(collected, start=1):
        item["update_id"] = n
    return collected


async def settle(harness: Harness) -> dict[str, int]:
    assert harness.intake is not None
    processor = harness.intake.processor
    async with asyncio.timeout(240):
        while (await harness.intake.inbox.counts()).get(PENDING, 0):
            processor.progressed.clear()
            processor.wake()
            await processor.progressed.wait()
    return await harness.intake.inbox.counts()


async def test_ten_thousand_generated_updates_neither_crash_nor_jam(harness: Harness) -> None:
    updates = generate_updates(FUZZ_UPDATES)
    assert len(updates) >= FUZZ_UPDATES
    await harness.start_bot()
    assert harness.intake is not None
    inbox, rules = harness.intake.inbox, harness.intake.rules
    for start in range(0, len(updates), 500):
        batch = updates[start : start + 500]
        await inbox.store_many(SOURCE, [to_incoming(u, rules) for u in batch])
    counts = await settle(harness)
    assert counts.get(PENDING, 0) == 0
    assert counts.get(DONE, 0) + counts.get(FAILED, 0) >= FUZZ_UPDATES
    unexpected = {
        (item.error or "").split(":", 1)[0]
        for item in await inbox.items()
        if item.status == FAILED and not (item.error or "").startswith(EXPECTED_FAILURES)
    }
    assert not unexpected
    # Strangers heard at most once each, however many messages and buttons they sent.
    for user in STRANGERS:
        assert len(harness.emulator.sent(user)) <= 1
    # A normal post afterwards is still mirrored.
    harness.emulator.post_to_channel(CHANNEL_ID, text="После бури")
    vk = harness.fake(ADM, Platform.VK)
    async with asyncio.timeout(10):
        while not any(
            c.content is not None and c.content.text.text == "После бури" for c in vk.calls
        ):
            await harness.wait_published(vk, len(vk.published) + 1)


async def test_a_flood_of_strangers_and_forged_buttons_does_not_hold_a_channel_post(
    harness: Harness,
) -> None:
    """5,000 updates from non-staff: one polite refusal per user, each audited once; the
    channel post stored after them is not held behind them (junk has its own worker)."""
    await harness.start_bot()
    assert harness.intake is not None
    inbox, rules = harness.intake.inbox, harness.intake.rules
    flood: list[dict[str, Any]] = []
    for n in range(5000):
        user = STRANGERS[n % len(STRANGERS)]
        if (n // len(STRANGERS)) % 2:
            flood.append(
                {
                    "message": {
                        "message_id": n,
                        "date": 1,
                        "chat": chat(user, "private"),
                        "from": {"id": user, "is_bot": False, "first_name": "Чужой"},
                        "text": f"реклама {n}",
                    }
                }
            )
        else:
            flood.append(
                {
                    "callback_query": {
                        "id": str(n),
                        "from": {"id": user, "is_bot": False, "first_name": "Чужой"},
                        "chat_instance": "1",
                        "data": f"d:{n}:now:",
                    }
                }
            )
    for n, item in enumerate(flood, start=1):
        item["update_id"] = n
    # Stored as one getUpdates batch would be, the channel post last.
    harness.intake.processor.stop()  # hold processing until everything is stored
    await inbox.store_many(SOURCE, [to_incoming(u, rules) for u in flood])
    harness.emulator.post_to_channel(CHANNEL_ID, text="Срочное сообщение")
    poller = harness.intake.poller
    assert poller is not None
    async with asyncio.timeout(5):
        while True:
            poller.stored.clear()
            if sum((await inbox.counts()).values()) > len(flood):
                break
            await poller.stored.wait()
    order: list[str] = []
    handle = harness.intake.handle

    async def recording(payload: dict[str, object]) -> None:
        order.append("post" if "channel_post" in payload else "junk")
        await handle(payload)

    harness.intake.processor.register(SOURCE, recording)
    running = asyncio.create_task(harness.intake.processor.run())
    try:
        await harness.wait_published(harness.fake(ADM, Platform.VK))
        counts = await settle(harness)
    finally:
        harness.intake.processor.stop()
        await running
    # Both workers start together; the post goes before a tenth of the flood is through.
    assert order.index("post") < len(flood) // 10
    assert counts.get(PENDING, 0) == 0
    # One polite refusal per user, by message or by button, whichever came first.
    asker = {
        str(u["callback_query"]["id"]): u["callback_query"]["from"]["id"]
        for u in flood
        if "callback_query" in u
    }
    refused: dict[int, int] = {}
    # (Forged query ids are refused by Telegram; what counts is that the bot tried once.)
    for answer in harness.emulator.requests("answerCallbackQuery"):
        user = asker[str(answer["params"]["callback_query_id"])]
        refused[user] = refused.get(user, 0) + 1
    for user in STRANGERS:
        refused[user] = refused.get(user, 0) + len(harness.emulator.sent(user))
    assert refused == dict.fromkeys(STRANGERS, 1)
    async with harness.sessionmaker() as session:
        audited = await session.scalar(
            select(func.count(AuditRow.id)).where(AuditRow.action == "refused_not_staff")
        )
    assert audited == len(STRANGERS)
