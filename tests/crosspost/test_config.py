from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from crosspost.config import load_settings, parse_settings
from crosspost.errors import ConfigError
from crosspost.models import Platform

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
ENV = {
    "TELEGRAM_BOT_TOKEN": "123456:ABC",
    "VK_ADM_COMMUNITY_TOKEN": "vk1.a.adm",
    "VK_ADM_USER_TOKEN": "vk1.a.user",
    "VK_HEAD_COMMUNITY_TOKEN": "vk1.a.head",
    "OK_APP_SECRET": "secret",
    "OK_ADM_TOKEN": "tkn-adm",
    "OK_HEAD_TOKEN": "tkn-head",
}


def example() -> dict[str, object]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_example_config_is_valid_and_has_both_accounts() -> None:
    settings = load_settings(EXAMPLE, ENV)
    assert set(settings.accounts) == {"administration", "head"}
    adm = settings.accounts["administration"]
    assert adm.mirror == [Platform.VK, Platform.OK]
    assert adm.vk is not None
    assert adm.vk.user_token is not None
    assert adm.vk.user_token.get_secret_value() == "vk1.a.user"
    assert "vk1.a.user" not in repr(settings)  # secrets never print


def test_any_number_of_accounts() -> None:
    data = example()
    accounts = data["accounts"]
    assert isinstance(accounts, dict)
    for i in range(5):
        accounts[f"school{i}"] = {"title": f"Школа {i}", "telegram_channel_id": -100500 - i}
    assert len(parse_settings(data, ENV).accounts) == 7


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["telegram"].pop("staff_chat_id"),
            "config key telegram.staff_chat_id is missing",
        ),
        (lambda d: d["telegram"].update(staff="everyone"), "config key telegram.staff"),
        (lambda d: d["telegram"].update(tokn="x"), "config key telegram.tokn is not known"),
        (lambda d: d["telegram"].update(timezone="Mars/Olympus"), "unknown time zone"),
        (
            lambda d: d["accounts"]["head"].update(mirror=["vk", "max"]),
            "config key accounts.head: mirror names 'max' but the account has no max_chat_id",
        ),
        (lambda d: d["accounts"]["head"].update(mirror=["facebook"]), "accounts.head.mirror[0]"),
        (
            lambda d: d["accounts"]["head"]["vk"].update(group_id="abc"),
            "accounts.head.vk.group_id",
        ),
        (lambda d: d["scheduler"].update(rate_limits={"vkk": 3}), "unknown rate limit 'vkk'"),
    ],
)
def test_broken_config_names_the_key(mutate: object, expected: str) -> None:
    data = example()
    mutate(data)  # type: ignore[operator]
    with pytest.raises(ConfigError) as info:
        parse_settings(data, ENV)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_unset_env_var_names_key_and_variable() -> None:
    env = dict(ENV)
    del env["OK_HEAD_TOKEN"]
    with pytest.raises(ConfigError, match=r"accounts\.head\.ok\.access_token.*OK_HEAD_TOKEN"):
        load_settings(EXAMPLE, env)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[telegram\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, ENV)
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", ENV)
