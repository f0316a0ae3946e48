from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crosspost.cli import app
from crosspost.config import Settings, load_settings, secret_values
from crosspost.logs import setup_logging
from tests.crosspost.test_config_errors import BASE, ENV, TOKEN


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def settings_with_secrets(tmp_path: Path) -> Settings:
    (tmp_path / "state" / "media").mkdir(parents=True)
    path = tmp_path / "crosspost.toml"
    path.write_text(BASE, encoding="utf-8")
    return load_settings(path, ENV)


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_every_configured_secret_is_redacted(tmp_path: Path, log_format: str) -> None:
    settings = settings_with_secrets(tmp_path)
    secrets = secret_values(settings)
    assert set(ENV.values()) <= secrets
    stream = io.StringIO()
    setup_logging(
        "debug", "json" if log_format == "json" else "text", secrets=secrets, stream=stream
    )
    log = logging.getLogger("crosspost.test")
    log.info("calling https://api.telegram.org/bot%s/getMe", TOKEN)
    log.warning("half a token: %s", TOKEN.split(":")[1])
    for value in ENV.values():
        log.error("leaked %s in a message", value)
    try:
        raise RuntimeError(f"connect failed for url=/bot{TOKEN}/sendMessage")
    except RuntimeError:
        log.exception("request failed")
    output = stream.getvalue()
    for value in (*ENV.values(), TOKEN.split(":")[1]):
        assert value not in output
    assert "***" in output
    # Only this test's logger: a task left by an earlier test may log meanwhile.
    lines = [line for line in output.strip().splitlines() if "crosspost.test" in line]
    assert len(lines) == 3 + len(ENV)  # one line per event, the traceback folded in
    if log_format == "json":
        entries = [json.loads(line) for line in lines]
        assert entries[0]["level"] == "info"
        assert entries[0]["logger"] == "crosspost.test"
        assert entries[-1]["message"] == "request failed"
        assert "RuntimeError" in entries[-1]["exception"]
    else:
        assert "RuntimeError" in lines[-1]


@pytest.mark.usefixtures("restore_logging")
def test_level_from_config_and_verbose_flag(tmp_path: Path) -> None:
    from crosspost import cli

    settings = settings_with_secrets(tmp_path)
    quiet = settings.model_copy(
        update={"logging": settings.logging.model_copy(update={"level": "warning"})}
    )
    cli.setup_logging(quiet)
    assert logging.getLogger().level == logging.WARNING
    cli.setup_logging(quiet, verbose=True)
    assert logging.getLogger().level == logging.DEBUG
    cli.setup_logging(quiet, log_format=cli.LogFormatChoice.JSON)
    handler = logging.getLogger().handlers[0]
    assert type(handler.formatter).__name__ == "JsonFormatter"


def test_log_format_option_is_checked() -> None:
    result = CliRunner().invoke(app, ["run", "--log-format", "xml", "-c", "/nonexistent.toml"])
    assert result.exit_code == 2
