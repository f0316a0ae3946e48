# ruff: noqa: S603, S607, S103 - this test runs the recipe's own commands in a scratch root
"""The README's systemd recipe, run as written in a scratch root: the code installed, the
config and secrets placed with their permissions, the unit checked by `systemd-analyze verify`,
and the service started the way systemd would start it (its user via `runuser`, the secrets
from the EnvironmentFile, the state directory created) until /healthz answers 200.

Needs root (it creates the service user), `runuser`, `systemd-analyze` and a system Python with
venv; .ci/run installs what is missing. Run alone with `pytest tests/deploy -m deploy`."""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
UNIT = REPO / "deploy" / "crosspost.service"
USER = "crosspost"
TOKEN = "700000002:RECIPE-test-token"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("runuser") or not shutil.which("systemd-analyze"),
    reason="the service recipe test needs root, runuser and systemd-analyze (see .ci/run)",
)


def recipe() -> str:
    """The shell block under README's "Running as a service (systemd)"."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Running as a service (systemd)", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "README: the service section has no ```sh block"
    return match.group(1)


def unit_value(key: str) -> str:
    values = re.findall(rf"^{key}=(.*)$", UNIT.read_text(encoding="utf-8"), re.M)
    assert values, key
    return values[-1].strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def scratch() -> Iterator[Path]:
    # Not under pytest's tmp_path: its parents are private to root, and the service user must
    # reach the code as it would under /opt.
    root = Path(tempfile.mkdtemp(prefix="crosspost-recipe-"))
    os.chmod(root, 0o755)
    (root / "etc" / "systemd" / "system").mkdir(parents=True)  # present on any Debian
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def localize(script: str, root: Path) -> str:
    """Point the recipe's absolute paths into the scratch root; the one step that needs the
    network (git clone) copies this checkout instead, and systemctl is left to the test."""
    out: list[str] = []
    for line in script.splitlines():
        line = line.replace("sudo ", "")
        for path in (
            "/etc/systemd/system",
            "/etc/crosspost",
            "/var/lib/crosspost",
            "/opt/crosspost",
        ):
            line = line.replace(path, f"{root}{path}")
        if line.startswith("git clone"):
            target = line.split()[-1]
            line = f"git clone -q {REPO} {target}"
        if "make install" in line and not os.environ.get("CROSSPOST_RECIPE_MAKE_INSTALL"):
            line = line.replace("make install", offline_install())
        if line.startswith(
            (
                "apt-get",
                "systemctl",
                "systemd-analyze",
                "journalctl",
                "curl",
                "sudoedit",
                "useradd",
            )
        ):
            line = f": {shlex.quote(line)}"  # done below, as systemd would (or by the fixture)
        out.append(line)
    return "\n".join(out) + "\n"


def offline_install() -> str:
    """`make install` without downloading (CROSSPOST_RECIPE_MAKE_INSTALL=1 runs the real one):
    a venv of the system Python (the service user cannot run a Python under /root) that finds
    the dependencies already installed for this checkout and the package in the clone."""
    site = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    # The service user must reach them: a checkout in a private folder (mktemp -d is 0700) is
    # opened for traversal along the way, as an operator's /opt would be.
    for folder in (site, *site.parents):
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod(mode | 0o011)
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
    return (
        f"{python} -m venv --without-pip .venv && "
        "lib=$(echo .venv/lib/python3*/site-packages) && "
        f"echo {site} > $lib/deps.pth && echo $PWD > $lib/crosspost.pth && "
        "printf '#!%s\\nfrom crosspost.cli import main\\nmain()\\n' \"$PWD/.venv/bin/python\" "
        "> .venv/bin/crosspost && chmod 755 .venv/bin/crosspost"
    )


def ensure_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        line = next(s for s in recipe().splitlines() if "useradd" in s)
        subprocess.run(line.replace("sudo ", ""), shell=True, check=True)  # noqa: S602
        return pwd.getpwnam(USER)


def write_config(root: Path, api_base: str, port: int) -> None:
    """What the IT person does in sudoedit: point the example at the (emulated) platforms."""
    etc = root / "etc" / "crosspost"
    config = (etc / "crosspost.toml").read_text(encoding="utf-8")
    state = root / "var" / "lib" / "crosspost"
    assert f"sqlite+aiosqlite:///{state}/crosspost.db" in config, "recipe: database in state"
    assert f'dir = "{state}/media"' in config, "recipe: media in state"
    # The file keeps what the recipe set (state paths); the rest is this test's small world.
    (etc / "crosspost.toml").write_text(
        f"""
[database]
url = "sqlite+aiosqlite:///{state}/crosspost.db"

[telegram]
token = "${{TELEGRAM_BOT_TOKEN}}"
api_base = "{api_base}"
staff_chat_id = -1009
staff = [1]

[media]
dir = "{state}/media"

[http]
listen = "127.0.0.1:{port}"

[accounts.administration]
title = "Администрация"
telegram_channel_id = -1001
""",
        encoding="utf-8",
    )
    (etc / "secrets.env").write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\n", encoding="utf-8")


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    code = (
        "import asyncio\n"
        "from crosspost.emulators.telegram import TelegramEmulator\n"
        "async def main():\n"
        f"    tg = TelegramEmulator(token={TOKEN!r})\n"
        "    tg.add_channel(-1001, 'Администрация')\n"
        "    tg.add_group(-1009, 'Пресс-служба')\n"
        "    print(await tg.start(), flush=True)\n"
        "    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def stop_service(runuser: subprocess.Popen[str]) -> None:
    children = Path(f"/proc/{runuser.pid}/task/{runuser.pid}/children")
    pids = children.read_text().split() if children.exists() else []
    for pid in pids or [str(runuser.pid)]:
        os.kill(int(pid), signal.SIGTERM)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - 127.0.0.1
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_readme_recipe_up_to_a_healthy_service(scratch: Path) -> None:
    user = ensure_user()
    script = localize(recipe(), scratch)
    subprocess.run(["bash", "-euxo", "pipefail", "-c", script], check=True, cwd=scratch)
    etc = scratch / "etc" / "crosspost"
    state = scratch / "var" / "lib" / "crosspost"
    opt = scratch / "opt" / "crosspost"
    # Permissions the recipe promises.
    secrets = (etc / "secrets.env").stat()
    assert (secrets.st_uid, secrets.st_mode & 0o777) == (0, 0o600)
    config = (etc / "crosspost.toml").stat()
    assert (config.st_gid, config.st_mode & 0o777) == (user.pw_gid, 0o640)
    assert (opt / ".venv").stat().st_uid == 0  # code owned by root, read-only to the service

    installed_unit = Path(f"{scratch}/etc/systemd/system/crosspost.service")
    assert installed_unit.read_text(encoding="utf-8") == UNIT.read_text(encoding="utf-8")
    verify = installed_unit.read_text(encoding="utf-8").replace("/opt/crosspost", str(opt))
    verify_path = scratch / "crosspost.service"
    verify_path.write_text(verify, encoding="utf-8")
    checked = subprocess.run(
        ["systemd-analyze", "verify", str(verify_path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert "crosspost.service" not in checked.stderr, checked.stderr
    # The template for several processes on one PostgreSQL queue passes the same check.
    template = UNIT.with_name("crosspost@.service").read_text(encoding="utf-8")
    template_path = scratch / "crosspost@.service"
    template_path.write_text(template.replace("/opt/crosspost", str(opt)), encoding="utf-8")
    checked = subprocess.run(
        ["systemd-analyze", "verify", str(template_path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert "crosspost@" not in checked.stderr, checked.stderr

    emulator, api_base = start_emulator()
    port = free_port()
    try:
        write_config(scratch, api_base, port)
        # What systemd does for this unit: StateDirectory=, then ExecStart= as User= with the
        # EnvironmentFile= read by root.
        assert unit_value("StateDirectory") == "crosspost"
        assert unit_value("User") == USER
        state.mkdir(parents=True, exist_ok=True)
        os.chown(state, user.pw_uid, user.pw_gid)
        os.chmod(state, int(unit_value("StateDirectoryMode"), 8))
        command = unit_value("ExecStart").replace("/opt/crosspost", str(opt))
        command = command.replace("/etc/crosspost", str(etc))
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **env_file(etc / "secrets.env")}
        service = subprocess.Popen(
            [
                "runuser",
                "-u",
                USER,
                "--",
                "env",
                "-i",
                *(f"{k}={v}" for k, v in env.items()),
                *command.split(),
            ],
            cwd=state,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 300  # a bound for a loaded machine
            status, body = 0, b""
            while time.monotonic() < deadline and service.poll() is None:
                try:
                    status, body = get(f"http://127.0.0.1:{port}/healthz")
                except OSError:
                    time.sleep(0.2)
                    continue
                if status == 200:
                    break
                time.sleep(0.2)
            if status != 200:
                stop_service(service)
                output, _ = service.communicate(timeout=60)
                raise AssertionError(f"no healthy answer ({status}, {body!r}); service: {output}")
            health = json.loads(body)
            assert health["checks"] == {"database": True, "drain": True, "inbound": True}
            metrics_status, metrics = get(f"http://127.0.0.1:{port}/metrics")
            assert metrics_status == 200
            assert b"crosspost_queue_depth" in metrics
        finally:
            # systemd signals the main process; runuser would only pass on a kill.
            stop_service(service)
            output, _ = service.communicate(timeout=60)
        assert service.returncode == 0, output
        assert TOKEN not in output
        assert TOKEN.split(":")[1] not in output
        # Everything the service wrote is in its state directory, owned by its user.
        written = [p for p in state.rglob("*")]
        assert state / "crosspost.db" in written
        assert all(p.stat().st_uid == user.pw_uid for p in written)
    finally:
        emulator.terminate()
        emulator.communicate(timeout=10)
