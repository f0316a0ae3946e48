"""A small async client for the MAX Bot API: JSON over REST, two-step uploads, long polling.

The token goes raw in `Authorization` (no `Bearer`; the query token is gone) and only to the API
host, never to the upload host. No retries here except the bounded wait for an attachment MAX
is still processing; everything else is raised typed and the scheduler decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TypeAlias, cast

import aiohttp

from adapters import http as http_errors
from adapters.max.errors import classify
from crosspost.errors import (
    PermanentError,
    PublishError,
    Reason,
    TransientError,
)
from crosspost.models import MediaItem, Platform
from crosspost.publishing import ThrottleFactory

logger = logging.getLogger(__name__)

Json: TypeAlias = "dict[str, Json] | list[Json] | str | int | float | bool | None"
JsonObject: TypeAlias = "dict[str, Json]"

# Rate-limit keys (config `scheduler.rate_limits`): messages per chat, requests per bot.
CHAT_LIMIT_KIND = "max"
BOT_LIMIT_KIND = "max_bot"
DOWNLOAD_CHUNK = 256 * 1024


def ssl_context(ca_file: Path | None) -> ssl.SSLContext | None:
    """The system trust store plus the Минцифры root (MAX's certificate chains to it)."""
    if ca_file is None:
        return None
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=str(ca_file))
    return context


class SentRegistry:
    """Messages this process sent and sends in flight, per chat: the listener waits for sends
    in flight to a chat before judging a new message there, so a copy of ours is never taken
    for a staff post (MAX may deliver its update before the send's answer is read)."""

    def __init__(self, *, remember: int = 1000) -> None:
        self._remember = remember
        self._sent: dict[str, None] = {}
        self._in_flight: dict[int, int] = {}
        self._idle = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def sending(self, chat_id: int) -> AsyncIterator[None]:
        async with self._idle:
            self._in_flight[chat_id] = self._in_flight.get(chat_id, 0) + 1
        try:
            yield
        finally:
            async with self._idle:
                self._in_flight[chat_id] -= 1
                self._idle.notify_all()

    def add(self, mid: str) -> None:
        self._sent[mid] = None
        while len(self._sent) > self._remember:
            del self._sent[next(iter(self._sent))]

    def __contains__(self, mid: object) -> bool:
        return mid in self._sent

    async def settled(self, chat_id: int) -> None:
        """Wait until no send to `chat_id` is in flight (callers bound the wait)."""
        async with self._idle:
            await self._idle.wait_for(lambda: self._in_flight.get(chat_id, 0) == 0)


class MaxClient:
    """One bot token. Every call passes `throttle("max_bot", token)`; sends also pass the
    per-chat bucket `throttle("max", token + chat)`."""

    def __init__(
        self,
        *,
        api_base: str,
        token: str,
        http: aiohttp.ClientSession,
        throttle: ThrottleFactory,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        account: str | None = None,
    ) -> None:
        self._api_base = api_base.rstrip("/")
        self._token = token
        self._http = http
        self._throttle = throttle
        self._timeout = timeout
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._account = account
        self.sent = SentRegistry()

    def __repr__(self) -> str:
        return f"MaxClient(api_base={self._api_base!r}, token=***)"

    def with_account(self, account: str) -> MaxClient:
        """The same token and session, naming another account in its errors."""
        clone = MaxClient(
            api_base=self._api_base,
            token=self._token,
            http=self._http,
            throttle=self._throttle,
            timeout=self._timeout,
            account=account,
        )
        clone._ssl = self._ssl
        clone.sent = self.sent
        return clone

    # -- the API --------------------------------------------------------------------------

    async def call(
        self,
        http_method: str,
        path: str,
        *,
        query: Mapping[str, str | int] | None = None,
        body: Json = None,
        idempotent: bool = True,
        chat_id: int | None = None,
        wait_seconds: float | None = None,
    ) -> JsonObject:
        """One API call; `chat_id` also takes a slot of that chat's message bucket.
        Raises TransientError, OutcomeUnknownError (idempotent=False, request sent, no answer),
        AuthError, NeedsAttentionError, PermanentError."""
        method = f"{http_method} {path.split('?')[0]}"
        params = {k: str(v) for k, v in (query or {}).items()}
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"Authorization": self._token}
        if data is not None:
            headers["Content-Type"] = "application/json"
        total = wait_seconds if wait_seconds is not None else self._timeout
        client_timeout = aiohttp.ClientTimeout(total=total, sock_connect=self._timeout / 2)
        started = time.monotonic()
        try:
            async with contextlib.AsyncExitStack() as stack:
                if chat_id is not None:
                    await stack.enter_async_context(
                        self._throttle(CHAT_LIMIT_KIND, f"{self._token}:{chat_id}")
                    )
                await stack.enter_async_context(self._throttle(BOT_LIMIT_KIND, self._token))
                response = await stack.enter_async_context(
                    self._http.request(
                        http_method,
                        f"{self._api_base}{path}",
                        params=params,
                        data=data,
                        headers=headers,
                        timeout=client_timeout,
                        ssl=self._ssl,
                    )
                )
                status = response.status
                raw = await response.read()
                retry_after = _retry_after(response.headers.get("Retry-After"))
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            logger.warning("MAX %s: cannot connect (%s)", method, type(exc).__name__)
            raise self._not_sent(method) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            logger.warning(
                "MAX %s: no answer after %.1f s (%s)",
                method,
                time.monotonic() - started,
                type(exc).__name__,
            )
            raise self._lost(method, idempotent=idempotent) from None
        logger.debug("MAX %s: HTTP %s in %.2f s", method, status, time.monotonic() - started)
        answer = self._decode(method, raw, status=status, idempotent=idempotent)
        if status >= 400:
            code = answer.get("code")
            logger.warning("MAX %s: HTTP %s code=%s", method, status, code)
            raise classify(
                status,
                code if isinstance(code, str) else None,
                method=method,
                idempotent=idempotent,
                account=self._account,
                retry_after=retry_after,
            )
        return answer

    async def me(self) -> JsonObject:
        return await self.call("GET", "/me")

    async def chat(self, chat_id: int) -> JsonObject:
        return await self.call("GET", f"/chats/{chat_id}")

    async def membership(self, chat_id: int) -> JsonObject:
        return await self.call("GET", f"/chats/{chat_id}/members/me")

    async def send(self, chat_id: int, body: JsonObject) -> JsonObject:
        """POST /messages: not idempotent (MAX takes no key), a lost answer is uncertain."""
        async with self.sent.sending(chat_id):
            answer = await self.call(
                "POST",
                "/messages",
                query={"chat_id": chat_id},
                body=body,
                idempotent=False,
                chat_id=chat_id,
            )
            message = answer.get("message")
            body_out = message.get("body") if isinstance(message, dict) else None
            mid = body_out.get("mid") if isinstance(body_out, dict) else None
            if isinstance(mid, str):
                self.sent.add(mid)
        return answer

    async def edit(self, message_id: str, body: JsonObject, *, chat_id: int) -> JsonObject:
        return await self.call(
            "PUT", "/messages", query={"message_id": message_id}, body=body, chat_id=chat_id
        )

    async def delete(self, message_id: str) -> JsonObject:
        return await self.call("DELETE", "/messages", query={"message_id": message_id})

    async def messages(self, chat_id: int, *, count: int = 50) -> list[JsonObject]:
        answer = await self.call("GET", "/messages", query={"chat_id": chat_id, "count": count})
        listed = answer.get("messages")
        return [m for m in listed if isinstance(m, dict)] if isinstance(listed, list) else []

    async def updates(
        self, *, marker: int | None, hold_seconds: int, limit: int = 100, types: str | None = None
    ) -> tuple[list[JsonObject], int | None]:
        """GET /updates (long polling). Returns the updates and the marker to pass next."""
        query: dict[str, str | int] = {"timeout": hold_seconds, "limit": limit}
        if marker is not None:
            query["marker"] = marker
        if types:
            query["types"] = types
        answer = await self.call(
            "GET", "/updates", query=query, wait_seconds=hold_seconds + self._timeout
        )
        listed = answer.get("updates")
        updates = [u for u in listed if isinstance(u, dict)] if isinstance(listed, list) else []
        next_marker = answer.get("marker")
        return updates, next_marker if isinstance(next_marker, int) else marker

    # -- webhook subscriptions -------------------------------------------------------------

    async def subscriptions(self) -> list[str]:
        """GET /subscriptions: the URLs MAX posts this bot's updates to."""
        answer = await self.call("GET", "/subscriptions")
        listed = answer.get("subscriptions")
        items = listed if isinstance(listed, list) else []
        found = [s.get("url") for s in items if isinstance(s, dict)]
        return [url for url in found if isinstance(url, str)]

    async def subscribe(self, url: str, *, update_types: list[str], secret: str) -> None:
        """POST /subscriptions: MAX posts updates to `url` with `X-Max-Bot-Api-Secret`
        (long polling stops working). Raises PublishError, PermanentError if refused."""
        answer = await self.call(
            "POST",
            "/subscriptions",
            body={"url": url, "update_types": list(update_types), "secret": secret},
        )
        self._require_success("POST /subscriptions", answer)

    async def unsubscribe(self, url: str) -> None:
        """DELETE /subscriptions: back to long polling for this URL."""
        answer = await self.call("DELETE", "/subscriptions", query={"url": url})
        self._require_success("DELETE /subscriptions", answer)

    def _require_success(self, method: str, answer: JsonObject) -> None:
        if answer.get("success") is False:
            raise PermanentError(
                f"MAX {method} was refused",
                platform=Platform.MAX,
                account=self._account,
                reason=Reason.CONFIG,
            )

    # -- uploads --------------------------------------------------------------------------

    async def upload(self, kind: str, item: MediaItem) -> str:
        """Two steps: `POST /uploads?type=` gives the URL (and the token for video/audio), then
        the file goes there as multipart field `data`, streamed from disk (no Authorization:
        the upload host is not the API). Returns the attachment token."""
        step1 = await self.call("POST", "/uploads", query={"type": kind})
        url = step1.get("url")
        if not isinstance(url, str) or not url:
            raise self._bad_answer("POST /uploads")
        early_token = step1.get("token")
        answer = await self._upload_file(url, item)
        if kind in ("video", "audio"):
            if isinstance(early_token, str) and early_token:
                return early_token
            raise self._bad_answer("POST /uploads")
        token = _upload_token(answer)
        if token is None:
            raise PermanentError(
                f"MAX did not take the file {item.file_name!r}",
                platform=Platform.MAX,
                account=self._account,
                reason=Reason.MEDIA_REJECTED,
            )
        return token

    async def _upload_file(self, url: str, item: MediaItem) -> Json:
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._timeout / 2, sock_read=self._timeout
        )
        with contextlib.ExitStack() as files:
            handle = await http_errors.open_media(
                Platform.MAX, item, "upload", account=self._account
            )
            files.callback(handle.close)
            form = aiohttp.FormData()
            form.add_field("data", handle, filename=item.file_name, content_type=item.mime_type)
            try:
                async with (
                    self._throttle(BOT_LIMIT_KIND, self._token),
                    self._http.post(url, data=form, timeout=timeout, ssl=self._ssl) as response,
                ):
                    status = response.status
                    raw = await response.read()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                # Nothing is published by an upload alone: it is safe to redo. Not chained:
                # aiohttp's text would carry the signed upload URL.
                logger.warning("MAX upload failed (%s)", type(exc).__name__)
                raise self._not_sent("upload") from None
        logger.info(
            "MAX upload: HTTP %s, %d bytes in %.2f s",
            status,
            item.size,
            time.monotonic() - started,
        )
        if status >= 400:
            code = self._decode("upload", raw, status=status, idempotent=True).get("code")
            raise classify(
                status,
                code if isinstance(code, str) else None,
                method="upload",
                idempotent=True,
                account=self._account,
            )
        try:
            return cast(Json, json.loads(raw))
        except ValueError:
            return None  # video/audio answer in XML; their token came with the URL

    async def download(
        self, url: str, store_root: Path, *, max_size: int
    ) -> tuple[Path, str, int, str]:
        """Stream a file a MAX post carries into the media store (`root/ab/<sha256>`), hashing
        as it goes. Returns (path, sha256, size, content type). Raises TransientError (network),
        PermanentError (too big, gone)."""
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._timeout / 2, sock_read=self._timeout
        )
        await asyncio.to_thread(store_root.mkdir, parents=True, exist_ok=True)
        fd, tmp_name = await asyncio.to_thread(
            tempfile.mkstemp, dir=store_root, prefix=".incoming-"
        )
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                try:
                    async with self._http.get(url, timeout=timeout, ssl=self._ssl) as response:
                        if response.status >= 400:
                            raise PermanentError(
                                f"MAX file download: HTTP {response.status}",
                                platform=Platform.MAX,
                                account=self._account,
                                code=f"http_{response.status}",
                                reason=Reason.NOT_FOUND,
                            )
                        content_type = response.content_type
                        async for chunk in response.content.iter_chunked(DOWNLOAD_CHUNK):
                            size += len(chunk)
                            if size > max_size:
                                raise PermanentError(
                                    "MAX file is larger than the media store takes",
                                    platform=Platform.MAX,
                                    account=self._account,
                                    reason=Reason.FILE_TOO_BIG,
                                )
                            digest.update(chunk)
                            await asyncio.to_thread(out.write, chunk)
                except (TimeoutError, aiohttp.ClientError) as exc:
                    logger.warning("MAX file download failed (%s)", type(exc).__name__)
                    raise self._not_sent("download") from None
            sha = digest.hexdigest()
            final = store_root / sha[:2] / sha
            await asyncio.to_thread(final.parent.mkdir, parents=True, exist_ok=True)
            await asyncio.to_thread(os.replace, tmp_name, final)
            return final, sha, size, content_type
        except BaseException:
            await asyncio.to_thread(Path(tmp_name).unlink, True)
            raise

    # -- helpers --------------------------------------------------------------------------

    def _decode(self, method: str, raw: bytes, *, status: int, idempotent: bool) -> JsonObject:
        try:
            answer = json.loads(raw) if raw.strip() else {}
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            return cast(JsonObject, answer)
        logger.warning("MAX %s: HTTP %s, answer is not JSON (%d bytes)", method, status, len(raw))
        if status >= 400:
            return {}
        raise http_errors.unreadable(
            Platform.MAX, method, account=self._account, idempotent=idempotent
        )

    def _not_sent(self, method: str) -> PublishError:
        return http_errors.not_sent(Platform.MAX, method, account=self._account)

    def _lost(self, method: str, *, idempotent: bool) -> PublishError:
        return http_errors.lost(Platform.MAX, method, account=self._account, idempotent=idempotent)

    def _bad_answer(self, method: str) -> PublishError:
        return TransientError(
            f"MAX {method}: unexpected answer",
            platform=Platform.MAX,
            account=self._account,
            reason=Reason.PLATFORM_DOWN,
        )


Sleep = Callable[[float], Awaitable[None]]


def _retry_after(value: str | None) -> timedelta | None:
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        seconds = float(value)
        if seconds >= 0:
            return timedelta(seconds=seconds)
    return None


def _upload_token(answer: Json) -> str | None:
    if not isinstance(answer, dict):
        return None
    token = answer.get("token")
    if isinstance(token, str) and token:
        return token
    photos = answer.get("photos")
    if isinstance(photos, dict):
        for photo in photos.values():
            if isinstance(photo, dict):
                photo_token = photo.get("token")
                if isinstance(photo_token, str) and photo_token:
                    return photo_token
    return None
