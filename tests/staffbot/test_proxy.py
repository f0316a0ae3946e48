"""telegram.proxy: every Bot API request (file downloads included) goes through the proxy."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from adapters.telegram.session import create_bot
from crosspost.config import TelegramConfig
from crosspost.emulators.telegram import TelegramEmulator


@dataclass
class Proxy:
    """A minimal HTTP CONNECT or SOCKS5 (no auth / user+password) proxy on 127.0.0.1."""

    kind: str
    tunnels: list[tuple[str, int]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            host, port = await (self._connect_http if self.kind == "http" else self._socks5)(
                reader, writer
            )
            self.tunnels.append((host, port))
            up_reader, up_writer = await asyncio.open_connection(host, port)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.close()

    async def _connect_http(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[str, int]:
        request = (await reader.readuntil(b"\r\n\r\n")).decode()
        method, target, _ = request.split("\r\n")[0].split(" ")
        assert method == "CONNECT"
        host, port = target.rsplit(":", 1)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        return host, int(port)

    async def _socks5(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[str, int]:
        _version, n = await reader.readexactly(2)
        methods = await reader.readexactly(n)
        if 2 in methods:  # username/password
            writer.write(b"\x05\x02")
            _v, ulen = await reader.readexactly(2)
            user = (await reader.readexactly(ulen)).decode()
            (plen,) = await reader.readexactly(1)
            self.logins.append((user, (await reader.readexactly(plen)).decode()))
            writer.write(b"\x01\x00")
        else:
            writer.write(b"\x05\x00")
        _v, _cmd, _rsv, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = ".".join(str(b) for b in await reader.readexactly(4))
        else:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        writer.write(b"\x05\x00\x00\x01" + bytes(4) + struct.pack("!H", 0))
        await writer.drain()
        return host, port


@pytest.fixture
async def emulator() -> AsyncIterator[TelegramEmulator]:
    tg = TelegramEmulator()
    await tg.start()
    yield tg
    await tg.stop()


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("http", "http://127.0.0.1:{port}"),
        ("socks5", "socks5://127.0.0.1:{port}"),
        ("socks5", "socks5://press:proxy-secret@127.0.0.1:{port}"),
    ],
)
async def test_requests_go_through_the_proxy(
    emulator: TelegramEmulator, kind: str, url: str
) -> None:
    proxy = Proxy(kind)
    port = await proxy.start()
    cfg = TelegramConfig.model_validate(
        {
            "token": emulator.token,
            "api_base": emulator.api_base,
            "staff_chat_id": -1,
            "staff": [1],
            "proxy": url.format(port=port),
        }
    )
    bot = create_bot(cfg, timeout=10)
    try:
        me = await bot.get_me()
    finally:
        await bot.session.close()
        await proxy.stop()
    assert me.is_bot
    assert emulator.requests("getMe")
    emulator_port = int(emulator.api_base.rsplit(":", 1)[1])
    assert proxy.tunnels == [("127.0.0.1", emulator_port)]
    if "press:" in url:
        assert proxy.logins == [("press", "proxy-secret")]


async def test_without_proxy_nothing_goes_through_one(emulator: TelegramEmulator) -> None:
    proxy = Proxy("http")
    await proxy.start()
    cfg = TelegramConfig.model_validate(
        {"token": emulator.token, "api_base": emulator.api_base, "staff_chat_id": -1, "staff": [1]}
    )
    bot = create_bot(cfg, timeout=10)
    try:
        await bot.get_me()
    finally:
        await bot.session.close()
        await proxy.stop()
    assert proxy.tunnels == []
