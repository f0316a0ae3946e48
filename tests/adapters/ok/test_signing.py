from __future__ import annotations

import hashlib
import json

import aiohttp
import pytest

from adapters.ok.client import OkClient, OkCredentials, md5_hex, ok_sig, signing_secret
from crosspost.emulators.ok import OkEmulator
from crosspost.errors import PermanentError, Reason
from crosspost.publishing import no_throttle
from tests.adapters.ok.conftest import APP_KEY, APP_SECRET, TOKEN

# platforms.md §3.1 (aiookru docs, recomputed).
EXAMPLE_APP_KEY = "ABCDEFGHIGKLMNOPK"
EXAMPLE_APP_SECRET = "ABC123DEF456GHI789JKL123"
EXAMPLE_TOKEN = "-s-84W-s3egarWUsbkq-IWTucuedzTKT8VUXIA.s4Xx8IW7"


def test_worked_example_from_platforms_md() -> None:
    secret = signing_secret(
        access_token=EXAMPLE_TOKEN,
        application_secret_key=EXAMPLE_APP_SECRET,
        session_secret_key=None,
    )
    assert secret == "b1a2b89707a94624c43afae67d59274c"
    params = {
        "application_key": EXAMPLE_APP_KEY,
        "method": "events.get",
        "format": "json",
        "access_token": EXAMPLE_TOKEN,
    }
    assert ok_sig(params, secret) == "232c8eb921951c4dba9b72606f9ddb4c"
    expected_string = (
        "application_key=ABCDEFGHIGKLMNOPKformat=jsonmethod=events.get"
        "b1a2b89707a94624c43afae67d59274c"
    )
    assert md5_hex(expected_string) == "232c8eb921951c4dba9b72606f9ddb4c"


def test_client_signs_the_worked_example_the_same_way() -> None:
    client = OkClient(
        api_base="http://127.0.0.1:1/fb.do",
        credentials=OkCredentials(
            application_key=EXAMPLE_APP_KEY,
            application_secret_key=EXAMPLE_APP_SECRET,
            access_token=EXAMPLE_TOKEN,
        ),
        http=None,  # type: ignore[arg-type]  # signing needs no session
        throttle=no_throttle,
    )
    form = client.signed_params("events.get", {})
    assert form["sig"] == "232c8eb921951c4dba9b72606f9ddb4c"
    assert form["access_token"] == EXAMPLE_TOKEN


def test_cyrillic_and_json_are_signed_as_raw_utf8() -> None:
    attachment = json.dumps(
        {"media": [{"type": "text", "text": 'Приём граждан — в пятницу & "всё"'}]},
        ensure_ascii=False,
    )
    params = {"application_key": "K", "attachment": attachment, "gid": "5555", "method": "m"}
    joined = f"application_key=Kattachment={attachment}gid=5555method=m"
    expected = hashlib.md5((joined + "s").encode("utf-8"), usedforsecurity=False).hexdigest()
    assert ok_sig(params, "s") == expected
    # Not the escaped form: signing the \u-escaped JSON would give another signature.
    escaped = dict(params, attachment=json.dumps(json.loads(attachment)))
    assert ok_sig(escaped, "s") != expected


def test_token_sig_and_session_key_are_left_out() -> None:
    base = {"b": "2", "a": "1"}
    with_extras = dict(base, sig="x", access_token="t", session_key="k")
    assert ok_sig(with_extras, "s") == ok_sig(base, "s") == md5_hex("a=1b=2s")


def test_issued_session_secret_key_is_preferred() -> None:
    assert (
        signing_secret(access_token="t", application_secret_key="a", session_secret_key="S") == "S"
    )
    assert signing_secret(
        access_token="t", application_secret_key="a", session_secret_key=None
    ) == (md5_hex("ta"))
    assert (
        signing_secret(access_token=None, application_secret_key="a", session_secret_key=None)
        == "a"
    )


def test_credentials_repr_hides_secrets() -> None:
    creds = OkCredentials(
        application_key="K", application_secret_key="APPSECRET", access_token="TOKENVALUE"
    )
    assert "APPSECRET" not in repr(creds)
    assert "TOKENVALUE" not in repr(creds)


async def test_emulator_accepts_cyrillic_json_signed_by_the_client(
    ok_emulator: OkEmulator, http: aiohttp.ClientSession
) -> None:
    client = OkClient(
        api_base=f"{ok_emulator.base_url}/fb.do",
        credentials=OkCredentials(
            application_key=APP_KEY, application_secret_key=APP_SECRET, access_token=TOKEN
        ),
        http=http,
        throttle=no_throttle,
    )
    attachment = json.dumps(
        {"media": [{"type": "text", "text": "Уважаемые жители! Ёлка — 31.12 «в 18:00»"}]},
        ensure_ascii=False,
    )
    topic_id = await client.call(
        "mediatopic.post",
        {"type": "GROUP_THEME", "gid": "5555", "attachment": attachment},
        idempotent=False,
    )
    assert isinstance(topic_id, str)
    topic = ok_emulator.topics[topic_id]
    assert topic.attachment_raw == attachment
    assert topic.text == "Уважаемые жители! Ёлка — 31.12 «в 18:00»"


@pytest.mark.parametrize("secret_in_config", [True, False])
async def test_session_secret_key_from_config_is_used(
    ok_emulator: OkEmulator, http: aiohttp.ClientSession, secret_in_config: bool
) -> None:
    ok_emulator.add_token("eternal-token", session_secret_key="issued0session0secret")
    client = OkClient(
        api_base=f"{ok_emulator.base_url}/fb.do",
        credentials=OkCredentials(
            application_key=APP_KEY,
            application_secret_key=APP_SECRET,
            access_token="eternal-token",
            session_secret_key="issued0session0secret" if secret_in_config else None,
        ),
        http=http,
        throttle=no_throttle,
    )
    if secret_in_config:
        assert await client.call("users.getCurrentUser") == {
            "uid": "574829000001",
            "name": "Emulated administrator",
        }
    else:
        with pytest.raises(PermanentError) as caught:
            await client.call("users.getCurrentUser")
        assert caught.value.code == "104"
        assert caught.value.reason is Reason.CONFIG


async def test_wrong_application_secret_is_104(
    ok_emulator: OkEmulator, http: aiohttp.ClientSession
) -> None:
    client = OkClient(
        api_base=f"{ok_emulator.base_url}/fb.do",
        credentials=OkCredentials(
            application_key=APP_KEY, application_secret_key="WRONG", access_token=TOKEN
        ),
        http=http,
        throttle=no_throttle,
    )
    with pytest.raises(PermanentError) as caught:
        await client.call("group.getCounters", {"group_id": "5555", "counterTypes": "members"})
    assert caught.value.code == "104"
    assert "WRONG" not in str(caught.value)
    assert TOKEN not in str(caught.value)
