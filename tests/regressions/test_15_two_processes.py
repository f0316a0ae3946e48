"""Issue 15: two `crosspost run` processes drain one PostgreSQL queue. The leader (advisory
lock) polls Telegram; both send. The leader is SIGKILLed midway: the other takes over the
listener, the dead one's leases are settled at once, and every post reaches every target
exactly once."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import text

from benchmarks.chaos import ChaosResult, check_platforms, make_posts, post_to_channel
from crosspost.db import create_engine
from crosspost.emulators.stack import CrosspostProcess, EmulatorStack, eventually
from crosspost.sandbox import ACCOUNTS, write_toml
from tests.conftest import DATABASES, fresh_database_url

POSTS = 200
LEADER_LINE = "this process is the leader"


async def _settled(url: str, expected: int) -> bool:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            published = await conn.scalar(
                text("SELECT count(*) FROM deliveries WHERE status = 'published'")
            )
            waiting = await conn.scalar(
                text("SELECT count(*) FROM inbox WHERE status <> 'done' AND status <> 'failed'")
            )
    except Exception:  # tables not there until the first process migrated
        return False
    finally:
        await engine.dispose()
    return published == expected and waiting == 0


def _text_posts_only_community_tokens(config: Path) -> None:
    """Text posts and community tokens (20 requests/s): the test is about processes, not VK's
    3/s user-token limit."""
    data = tomllib.loads(config.read_text())
    for account in data["accounts"].values():
        account["vk"].pop("user_token", None)
    data["scheduler"] = {"rate_limits": {"ok": 20.0, "vk_community": 20.0}}
    write_toml(data, config)


@pytest.mark.parametrize("kind", [DATABASES[1]])
async def test_two_processes_one_killed_every_post_once(kind: str, tmp_path: Path) -> None:
    specs = [p for p in make_posts(POSTS * 3, random.Random(15)) if p.kind == "text"][:POSTS]
    assert len(specs) == POSTS
    async with fresh_database_url(kind, tmp_path) as url:
        stack = EmulatorStack(root=tmp_path)
        config = await stack.start(database={"url": url})
        _text_posts_only_community_tokens(config)
        first = CrosspostProcess(config=config, log_path=tmp_path / "first.log")
        second = CrosspostProcess(config=config, log_path=tmp_path / "second.log")
        try:
            await first.start()
            await first.wait_for_log(LEADER_LINE, within=180)
            await second.start()
            await second.wait_for_log("crosspost running", within=180)
            for spec in specs[: POSTS // 2]:
                post_to_channel(stack, spec)
            # Midway: some posts are mirrored, others still in the inbox or in flight.
            await eventually(lambda: _mirrored_some(stack), within=60)
            await first.kill()
            for spec in specs[POSTS // 2 :]:
                post_to_channel(stack, spec)
            # The survivor takes the listener over (within 15 s of the kill, LEADER_POLL 3 s).
            await second.wait_for_log(LEADER_LINE, within=15)
            await eventually(lambda: _settled(url, POSTS * 2), within=120, interval=0.2)
            assert await second.terminate() == 0
        finally:
            for proc in (first, second):
                if proc.running:
                    await proc.kill()
            await stack.stop()
        result = ChaosResult(posts=POSTS)
        check_platforms(stack, specs, result)
        assert result.duplicated == []
        assert result.missing == []
        assert result.misplaced == []


async def _mirrored_some(stack: EmulatorStack) -> bool:
    return any(stack.vk.wall(int(a["vk_group"])) for a in ACCOUNTS.values())
