"""Random, seeded fault injection for the emulators: an aiohttp middleware per platform.

`FaultInjector(platform, plan, seed=...)` decides per request, before the emulator sees it:
an HTTP 5xx, a hang past the client's timeout (the request is never processed, then the
connection is dropped), a rate-limit answer in the platform's own wire format (VK error 6 with
HTTP 200, Telegram 429 with `parameters.retry_after`, OK error 8 FLOOD_BLOCKED with HTTP 200),
or a lost reply (the request is processed — the post is made — and the connection is then
dropped without an answer). Only methods the plan names are touched; `getUpdates` has its own,
modest plan. Counts are kept by platform, kind and method for the harness's table.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FaultKind(StrEnum):
    SERVER_ERROR = "5xx"
    HANG = "hang"
    RATE_LIMIT = "rate_limit"
    LOST_REPLY = "lost_reply"


@dataclass(frozen=True, kw_only=True)
class FaultPlan:
    """Probabilities per request (each in 0..1, their sum at most 1)."""

    server_error: float = 0.10
    hang: float = 0.05
    rate_limit: float = 0.05
    lost_reply: float = 0.03
    # Longer than the client's timeout, so the client gives up first.
    hang_seconds: float = 3.0
    # Telegram's retry_after and VK/OK have no hint: seconds a 429 asks to wait.
    retry_after_seconds: int = 1

    def __post_init__(self) -> None:
        rates = (self.server_error, self.hang, self.rate_limit, self.lost_reply)
        if any(r < 0 for r in rates) or sum(rates) > 1:
            raise ValueError("fault rates must be non-negative and sum to at most 1")

    def scaled(self, factor: float) -> FaultPlan:
        return FaultPlan(
            server_error=self.server_error * factor,
            hang=self.hang * factor,
            rate_limit=self.rate_limit * factor,
            lost_reply=self.lost_reply * factor,
            hang_seconds=self.hang_seconds,
            retry_after_seconds=self.retry_after_seconds,
        )


NO_FAULTS = FaultPlan(server_error=0, hang=0, rate_limit=0, lost_reply=0)

# VK and OK: every method but the checks made at start (a fault there only delays start);
# methods added later (read-backs) are covered without a change here. Telegram: what the
# engine does on its own (files, staff reports); getUpdates has its own plan.
VK_SPARED = frozenset(
    {"groups.getById", "groups.getTokenPermissions", "account.getAppPermissions", "users.get"}
)
OK_SPARED = frozenset(
    {"users.getCurrentUser", "users.hasAppPermission", "auth.touchSession", "group.getCounters"}
)
TELEGRAM_METHODS = frozenset(
    {"getfile", "file", "sendmessage", "editmessagetext", "editmessagereplymarkup"}
)


@dataclass
class FaultLog:
    """What was injected: by (platform, kind) and by (platform, kind, method)."""

    by_kind: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_method: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)

    def add(self, platform: str, kind: FaultKind, method: str) -> None:
        self.by_kind[(platform, str(kind))] += 1
        self.by_method[(platform, str(kind), method)] += 1

    def total(self, kind: FaultKind | None = None) -> int:
        return sum(n for (_, k), n in self.by_kind.items() if kind is None or k == kind)


class FaultInjector:
    """Seeded per-request faults for one emulator. Install before the emulator starts."""

    def __init__(
        self,
        platform: str,
        plan: FaultPlan,
        *,
        seed: int,
        polling_plan: FaultPlan = NO_FAULTS,
        log: FaultLog | None = None,
    ) -> None:
        if platform not in ("vk", "ok", "telegram"):
            raise ValueError(f"unknown platform {platform!r}")
        self.platform = platform
        self.plan = plan
        self.polling_plan = polling_plan
        self.log = log if log is not None else FaultLog()
        self.enabled = True
        self._random = random.Random(seed)

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.middleware)

    def pick(self, method: str) -> FaultKind | None:
        """The fault for one request to `method`, or None."""
        if not self.enabled:
            return None
        if method == "getupdates":
            plan = self.polling_plan
        elif self.covers(method):
            plan = self.plan
        else:
            return None
        roll = self._random.random()
        for kind, rate in (
            (FaultKind.SERVER_ERROR, plan.server_error),
            (FaultKind.HANG, plan.hang),
            (FaultKind.RATE_LIMIT, plan.rate_limit),
            (FaultKind.LOST_REPLY, plan.lost_reply),
        ):
            if roll < rate:
                return kind
            roll -= rate
        return None

    def covers(self, method: str) -> bool:
        if self.platform == "vk":
            return method not in VK_SPARED
        if self.platform == "ok":
            return method not in OK_SPARED
        return method in TELEGRAM_METHODS

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        method = await self._method(request)
        self.log.requests[self.platform] += 1
        kind = self.pick(method)
        if kind is None:
            return await handler(request)
        if kind is FaultKind.RATE_LIMIT and (method.startswith("upload.") or method == "file"):
            # Upload and file hosts are not the API: they never answer with an API error.
            kind = FaultKind.SERVER_ERROR
        self.log.add(self.platform, kind, method)
        plan = self.polling_plan if method == "getupdates" else self.plan
        if kind is FaultKind.SERVER_ERROR:
            return self._server_error()
        if kind is FaultKind.RATE_LIMIT:
            return self._rate_limited(method, plan)
        if kind is FaultKind.HANG:
            await asyncio.sleep(plan.hang_seconds)
            _drop(request)
            return web.Response(status=504)
        response = await handler(request)
        _drop(request)
        return response

    async def _method(self, request: web.Request) -> str:
        path = request.path
        if self.platform == "vk":
            if path.startswith("/upload/"):
                return "upload." + request.match_info.get("kind", "")
            return request.match_info.get("name", "")
        if self.platform == "ok":
            if path.startswith("/upload/"):
                return "upload." + path.split("/")[2]
            method = request.query.get("method", "")
            if not method and request.method == "POST":
                # Cached by aiohttp: the emulator's handler reads the same form again.
                form = await request.post()
                value = form.get("method", "")
                method = value if isinstance(value, str) else ""
            return method
        if path.startswith("/file/"):
            return "file"
        return request.match_info.get("method", "").lower()

    def _server_error(self) -> web.Response:
        status = self._random.choice((500, 502, 503))
        if self.platform == "telegram":
            return web.json_response(
                {"ok": False, "error_code": status, "description": "Internal Server Error"},
                status=status,
            )
        return web.Response(
            status=status,
            text=f"<html><body><h1>{status}</h1></body></html>",
            content_type="text/html",
        )

    def _rate_limited(self, method: str, plan: FaultPlan) -> web.Response:
        if self.platform == "vk":
            return web.json_response(
                {
                    "error": {
                        "error_code": 6,
                        "error_msg": "Too many requests per second",
                        "request_params": [{"key": "method", "value": method}],
                    }
                }
            )
        if self.platform == "ok":
            return web.json_response(
                {"error_data": None, "error_code": 8, "error_msg": "FLOOD_BLOCKED"}
            )
        seconds = plan.retry_after_seconds
        return web.json_response(
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {seconds}",
                "parameters": {"retry_after": seconds},
            },
            status=429,
        )


def _drop(request: web.Request) -> None:
    """Close the connection without an answer (the client sees a disconnect)."""
    transport = request.transport
    if transport is not None:
        transport.abort()
