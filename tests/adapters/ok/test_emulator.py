from __future__ import annotations

import logging

import aiohttp
import pytest

from adapters.ok.client import md5_hex, ok_sig
from crosspost.emulators.ok import OkEmulator
from crosspost.models import Content, DeliveryRef, MediaKind, Platform
from crosspost.richtext import RichText
from tests.adapters.ok.conftest import (
    APP_KEY,
    APP_SECRET,
    GID,
    TOKEN,
    MediaFactory,
    PublisherFactory,
)


def signed(params: dict[str, str], secret: str | None = None) -> dict[str, str]:
    form = {"application_key": APP_KEY, "format": "json", **params}
    form["sig"] = ok_sig(form, secret or md5_hex(TOKEN + APP_SECRET))
    form["access_token"] = TOKEN
    return form


async def post(http: aiohttp.ClientSession, emulator: OkEmulator, form: dict[str, str]) -> object:
    async with http.post(f"{emulator.base_url}/fb.do", data=form) as response:
        assert response.status == 200
        return await response.json()


async def test_wrong_signature_is_104_with_http_200(
    ok_emulator: OkEmulator, http: aiohttp.ClientSession
) -> None:
    form = signed({"method": "users.getCurrentUser"}, secret="not-the-secret")
    assert await post(http, ok_emulator, form) == {
        "error_data": None,
        "error_code": 104,
        "error_msg": "PARAM_SIGNATURE : Invalid signature",
    }
    form = signed({"method": "users.getCurrentUser"})
    del form["sig"]
    body = await post(http, ok_emulator, form)
    assert isinstance(body, dict)
    assert body["error_msg"] == "PARAM_SIGNATURE : No signature specified"


async def test_a_changed_parameter_breaks_the_signature(
    ok_emulator: OkEmulator, http: aiohttp.ClientSession
) -> None:
    form = signed({"method": "group.getCounters", "group_id": GID, "counterTypes": "members"})
    assert await post(http, ok_emulator, form) == {"counters": {"members": "1234"}}
    form["counterTypes"] = "themes"
    body = await post(http, ok_emulator, form)
    assert isinstance(body, dict)
    assert body["error_code"] == 104


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        (
            {"method": "group.getCounters", "group_id": GID},
            100,
            "PARAM : Missing required parameter counterTypes",
        ),
        (
            {"method": "group.getCounters", "group_id": GID, "counterTypes": "bogus"},
            100,
            "PARAM : Invalid parameter counterTypes value  : [bogus]",
        ),
        (
            {"method": "mediatopic.post", "type": "GROUP_THEME", "gid": GID},
            100,
            "PARAM : Missing required parameter attachment",
        ),
        ({"method": "no.suchMethod"}, 3, "METHOD : Method no.suchMethod not found"),
        (
            {"method": "group.getCounters", "group_id": "999", "counterTypes": "members"},
            160,
            "PARAM_GROUP_ID : Invalid group id 999",
        ),
    ],
)
async def test_required_parameters_and_unknown_methods(
    ok_emulator: OkEmulator,
    http: aiohttp.ClientSession,
    params: dict[str, str],
    code: int,
    message: str,
) -> None:
    assert await post(http, ok_emulator, signed(params)) == {
        "error_data": None,
        "error_code": code,
        "error_msg": message,
    }


async def test_unknown_application_and_expired_session(
    ok_emulator: OkEmulator, http: aiohttp.ClientSession
) -> None:
    form = signed({"method": "users.getCurrentUser", "application_key": "OTHER"})
    body = await post(http, ok_emulator, form)
    assert isinstance(body, dict)
    assert body["error_code"] == 101
    ok_emulator.expire_token(TOKEN)
    body = await post(http, ok_emulator, signed({"method": "users.getCurrentUser"}))
    assert isinstance(body, dict)
    assert body["error_code"] == 102


async def test_uploads_keep_bytes_and_reset_clears_state(
    ok_emulator: OkEmulator,
    make_publisher: PublisherFactory,
    make_media: MediaFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    photo = make_media(size=70_000)
    video = make_media(MediaKind.ANIMATION, size=5_000, mime_type="video/mp4")
    ref = DeliveryRef(
        delivery_id=1,
        publication_id=1,
        account="administration",
        platform=Platform.OK,
        idempotency_key="k",
    )
    result = await make_publisher().publish(
        ref, Content(text=RichText.plain(""), media=(photo, video))
    )
    topic = ok_emulator.topics[result.remote.remote_id]
    assert topic.blocks("text") == []
    assert [p.data for p in ok_emulator.topic_photos(topic)] == [photo.path.read_bytes()]
    assert [v.data for v in ok_emulator.topic_videos(topic)] == [video.path.read_bytes()]
    assert ok_emulator.calls_to("video.getUploadUrl")[0].params["file_size"] == "0"
    assert TOKEN not in caplog.text
    assert APP_SECRET not in caplog.text

    ok_emulator.reset()
    assert ok_emulator.topics == {}
    assert ok_emulator.photos == {}
    assert ok_emulator.tokens == {}
