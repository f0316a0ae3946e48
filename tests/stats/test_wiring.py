"""The daily job's schedule, and matplotlib kept out of the running service's memory."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from crosspost.config import parse_settings
from crosspost.errors import ConfigError
from crosspost.sandbox import sandbox_config
from tests.stats.conftest import World


def test_the_daily_job_runs_at_the_configured_local_time(world: World) -> None:
    (job,) = [j for j in world.app.periodic_jobs() if j.name == "stats-collect"]
    assert job.cron == "0 3 * * *"
    assert job.timezone == "Asia/Vladivostok"
    assert job.func == world.app.collect_stats


def test_collect_at_is_checked(tmp_path: Any) -> None:
    data = sandbox_config(
        "http://127.0.0.1:1", "http://127.0.0.1:1", "http://127.0.0.1:1", tmp_path
    )
    data["stats"] = {"collect_at": "7:30"}
    assert parse_settings(data, env={}).stats.collect_cron == "30 7 * * *"
    data["stats"] = {"collect_at": "24:00"}
    with pytest.raises(ConfigError, match=r"stats\.collect_at"):
        parse_settings(data, env={})


def test_the_service_does_not_load_matplotlib_until_a_chart_is_drawn() -> None:
    code = (
        "import sys, crosspost.app, crosspost.cli, crosspost.stats.collect, "
        "crosspost.stats.report, crosspost.stats.render, staffbot.stats, staffbot.dispatcher\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
        "import crosspost.stats.chart\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported by the chart module'\n"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
