from __future__ import annotations

import logging
import socket

import aiohttp
import pytest

from adapters.vk.client import VkToken
from crosspost.emulators.vk import VkEmulator
from crosspost.errors import (
    AuthError,
    NeedsAttentionError,
    OutcomeUnknownError,
    PermanentError,
    PublishError,
    Reason,
    TransientError,
)

from .conftest import COMMUNITY, GROUP_ID, USER, ClientFactory


async def test_call_sends_version_and_token_in_the_form_body(
    emu: VkEmulator, make_client: ClientFactory, community_token: VkToken
) -> None:
    group = await make_client().groups_get_by_id(community_token, group_id=GROUP_ID)
    assert group.members_count == 1234
    assert group.name == "Администрация"
    call = emu.calls[-1]
    assert call.method == "groups.getById"
    assert call.params["v"] == "5.199"
    assert call.params["fields"] == "members_count"
    assert "access_token" not in call.params  # the emulator took it out as the token
    assert call.token_kind is not None


async def test_emulator_is_strict_about_version_and_token(
    emu: VkEmulator, api_base: str, http: aiohttp.ClientSession
) -> None:
    async def raw(data: dict[str, str]) -> dict[str, object]:
        async with http.post(f"{api_base}/groups.getById", data=data) as resp:
            assert resp.status == 200
            body: dict[str, object] = await resp.json()
            return body

    no_version = await raw({"access_token": COMMUNITY, "group_id": str(GROUP_ID)})
    assert no_version["error"]["error_code"] == 8  # type: ignore[index]
    no_token = await raw({"v": "5.199", "group_id": str(GROUP_ID)})
    assert no_token["error"]["error_code"] == 5  # type: ignore[index]
    bad_token = await raw({"v": "5.199", "access_token": "nope", "group_id": str(GROUP_ID)})
    assert bad_token["error"]["error_code"] == 5  # type: ignore[index]
    params = bad_token["error"]["request_params"]  # type: ignore[index]
    assert {"key": "method", "value": "groups.getById"} in params
    assert all(p["key"] != "access_token" for p in params)
    missing = await raw({"v": "5.199", "access_token": USER})
    assert missing["error"]["error_code"] == 100  # type: ignore[index]
    async with http.post(f"{api_base}/wall.Post", data={"v": "5.199"}) as resp:
        assert (await resp.json())["error"]["error_code"] == 3


@pytest.mark.parametrize(
    ("code", "cls", "reason"),
    [
        (5, AuthError, Reason.TOKEN_INVALID),
        (6, TransientError, Reason.RATE_LIMITED),
        (9, TransientError, Reason.RATE_LIMITED),
        (10, TransientError, Reason.PLATFORM_DOWN),
        (14, NeedsAttentionError, Reason.CAPTCHA),
        (15, NeedsAttentionError, Reason.NO_RIGHTS),
        (27, PermanentError, Reason.WRONG_TOKEN_TYPE),
        (214, NeedsAttentionError, Reason.POST_LIMIT),
        (222, PermanentError, Reason.LINKS_FORBIDDEN),
        (1051, AuthError, Reason.WRONG_TOKEN_TYPE),
    ],
)
async def test_injected_errors_arrive_classified(
    emu: VkEmulator,
    make_client: ClientFactory,
    user_token: VkToken,
    code: int,
    cls: type[PublishError],
    reason: Reason,
) -> None:
    emu.fail_next("wall.post", error=code)
    with pytest.raises(PublishError) as info:
        await make_client().wall_post(
            user_token, owner_id=-GROUP_ID, message="x", attachments=(), guid="g"
        )
    assert type(info.value) is cls
    assert info.value.reason is reason
    assert info.value.code == str(code)
    assert emu.wall(GROUP_ID) == []


async def test_no_token_in_errors_or_logs(
    emu: VkEmulator,
    make_client: ClientFactory,
    user_token: VkToken,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client()
    emu.revoke(USER)
    with pytest.raises(AuthError) as info:
        await client.wall_post(
            user_token, owner_id=-GROUP_ID, message="x", attachments=(), guid="g"
        )
    emu.fail_next("groups.getById", status=502)
    with pytest.raises(TransientError) as info2:
        await client.groups_get_by_id(user_token, group_id=GROUP_ID)
    for text in (
        str(info.value),
        repr(info.value),
        str(info2.value),
        caplog.text,
        repr(user_token),
    ):
        assert USER not in text
        assert "SECRET" not in text


async def test_http_5xx_is_transient_but_uncertain_for_wall_post(
    emu: VkEmulator, make_client: ClientFactory, user_token: VkToken
) -> None:
    client = make_client()
    emu.fail_next("groups.getById", status=503)
    with pytest.raises(TransientError):
        await client.groups_get_by_id(user_token, group_id=GROUP_ID)
    emu.fail_next("wall.post", status=502)
    with pytest.raises(OutcomeUnknownError):
        await client.wall_post(
            user_token, owner_id=-GROUP_ID, message="x", attachments=(), guid="g"
        )


async def test_read_timeout_is_transient_for_reads(
    emu: VkEmulator, make_client: ClientFactory, user_token: VkToken
) -> None:
    emu.fail_next("groups.getById", hang=True)
    with pytest.raises(TransientError) as info:
        await make_client(timeout=0.3).groups_get_by_id(user_token, group_id=GROUP_ID)
    assert info.value.reason is Reason.NETWORK
    emu.release_hangs()


async def test_connect_failure_is_transient_even_for_wall_post(
    make_client: ClientFactory, user_token: VkToken
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(base=f"http://127.0.0.1:{port}/method")
    with pytest.raises(TransientError) as info:
        await client.wall_post(
            user_token, owner_id=-GROUP_ID, message="x", attachments=(), guid="g"
        )
    assert type(info.value) is TransientError
    assert info.value.reason is Reason.NETWORK


async def test_dropped_connection_after_wall_post_is_uncertain(
    emu: VkEmulator, make_client: ClientFactory, user_token: VkToken
) -> None:
    emu.fail_next("wall.post", drop=True, after=True)
    with pytest.raises(OutcomeUnknownError):
        await make_client().wall_post(
            user_token, owner_id=-GROUP_ID, message="x", attachments=(), guid="g"
        )
    assert [p.text for p in emu.wall(GROUP_ID)] == ["x"]


async def test_community_token_cannot_get_photo_upload_server(
    emu: VkEmulator, make_client: ClientFactory, community_token: VkToken
) -> None:
    with pytest.raises(PermanentError) as info:
        await make_client().photos_get_wall_upload_server(community_token, group_id=GROUP_ID)
    assert info.value.code == "27"
    assert info.value.reason is Reason.WRONG_TOKEN_TYPE


async def test_token_permissions_and_app_permissions(
    emu: VkEmulator, make_client: ClientFactory, community_token: VkToken, user_token: VkToken
) -> None:
    client = make_client()
    perms = await client.groups_get_token_permissions(community_token)
    assert {"docs", "manage"} <= perms.names
    assert perms.mask & 131072
    user_id = await client.users_get_self(user_token)
    mask = await client.account_get_app_permissions(user_token, user_id=user_id)
    assert mask & 8192  # wall
    assert mask & 4  # photos
