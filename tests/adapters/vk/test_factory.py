from __future__ import annotations

import aiohttp
import pytest

from adapters.vk import create_publisher
from crosspost.config import parse_settings
from crosspost.emulators.vk import VkEmulator
from crosspost.errors import ConfigError
from crosspost.models import Content
from crosspost.publishing import Publisher, no_throttle
from crosspost.richtext import RichText

from .conftest import COMMUNITY, GROUP_ID, DeliveryFactory


def settings(api_base: str, vk: dict[str, object] | None) -> dict[str, object]:
    account: dict[str, object] = {"title": "Администрация"}
    if vk is not None:
        account["vk"] = vk
    return {
        "telegram": {"token": "1:x", "staff_chat_id": -1, "staff": [1]},
        "vk": {"api_base": api_base},
        "accounts": {"administration": account},
    }


async def test_create_publisher_from_settings(
    emu: VkEmulator, api_base: str, http: aiohttp.ClientSession, make_delivery: DeliveryFactory
) -> None:
    config = parse_settings(
        settings(api_base, {"group_id": GROUP_ID, "community_token": "${VK_TOKEN}"}),
        env={"VK_TOKEN": COMMUNITY},
    )
    publisher = create_publisher(
        settings=config, account="administration", http=http, throttle=no_throttle
    )
    assert isinstance(publisher, Publisher)
    assert not publisher.capabilities.can_edit
    await publisher.publish(make_delivery(), Content(text=RichText.plain("Привет")))
    assert [p.text for p in emu.wall(GROUP_ID)] == ["Привет"]


def test_create_publisher_needs_vk_settings(http: aiohttp.ClientSession) -> None:
    config = parse_settings(settings("http://127.0.0.1:1/method", None))
    with pytest.raises(ConfigError):
        create_publisher(
            settings=config, account="administration", http=http, throttle=no_throttle
        )
