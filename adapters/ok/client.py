"""A small async client for the OK API (fb.do): signing, one error table, streaming uploads.

No retries and no sleeping here: errors are raised typed and the scheduler decides.
Tokens and secrets never reach a log line or an exception message.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeAlias, cast

import aiohttp

from adapters import http as http_errors
from adapters.ok.errors import classify_api_error, classify_http_status
from crosspost.errors import (
    PublishError,
)
from crosspost.models import MediaItem, Platform
from crosspost.publishing import ThrottleFactory

logger = logging.getLogger(__name__)

RATE_LIMIT_KIND = "ok"
# Parameters that never take part in the signature (apiok.ru, "Подпись запроса").
UNSIGNED_PARAMS = frozenset({"sig", "access_token", "session_key"})
# A LONG_ACCESS_TOKEN lives 30 days from its last extension; OK extends it at most once a day.
TOKEN_LIFETIME = timedelta(days=30)

Json: TypeAlias = "dict[str, Json] | list[Json] | str | int | float | bool | None"


def md5_hex(value: str) -> str:
    return hashlib.md5(value.encode("utf-8"), usedforsecurity=False).hexdigest().lower()


def signing_secret(
    *, access_token: str | None, application_secret_key: str, session_secret_key: str | None
) -> str:
    """The secret that ends the signed string: the issued session_secret_key when there is one,
    else md5(access_token + application_secret_key), else (no session) the app secret itself."""
    if session_secret_key:
        return session_secret_key
    if access_token:
        return md5_hex(access_token + application_secret_key)
    return application_secret_key


def ok_sig(params: Mapping[str, str], secret: str) -> str:
    """OK's request signature: md5 of the sorted k=v pairs (no separator, raw UTF-8 values,
    without sig/access_token/session_key) followed by the secret, in lower-case hex."""
    joined = "".join(
        f"{key}={params[key]}" for key in sorted(params) if key not in UNSIGNED_PARAMS
    )
    return md5_hex(joined + secret)


def token_lapses_at(last_success_at: datetime) -> datetime:
    """The earliest moment a long token can lapse after a successful call at `last_success_at`.

    OK extends a token at most once a day, counting 30 days from the first call of that day,
    so one day is taken off to stay on the safe side."""
    return last_success_at + TOKEN_LIFETIME - timedelta(days=1)


@dataclass(frozen=True, kw_only=True)
class OkCredentials:
    application_key: str
    application_secret_key: str
    access_token: str
    session_secret_key: str | None = None

    @property
    def secret(self) -> str:
        return signing_secret(
            access_token=self.access_token,
            application_secret_key=self.application_secret_key,
            session_secret_key=self.session_secret_key,
        )

    def __repr__(self) -> str:
        return f"OkCredentials(application_key={self.application_key!r}, secrets=***)"


class OkClient:
    """One OK token. Every API call and upload passes through `throttle("ok", token)`."""

    def __init__(
        self,
        *,
        api_base: str,
        credentials: OkCredentials,
        http: aiohttp.ClientSession,
        throttle: ThrottleFactory,
        timeout: float = 30.0,
        account: str | None = None,
    ) -> None:
        self._api_base = api_base
        self._credentials = credentials
        self._http = http
        self._throttle = throttle
        self._timeout = timeout
        self._account = account
        self.last_success_at: datetime | None = None

    def signed_params(self, method: str, params: Mapping[str, str]) -> dict[str, str]:
        """The full form of one call: the caller's params plus the fixed ones and `sig`."""
        form = {
            **params,
            "application_key": self._credentials.application_key,
            "method": method,
            "format": "json",
        }
        form["sig"] = ok_sig(form, self._credentials.secret)
        form["access_token"] = self._credentials.access_token
        return form

    def _api_timeout(self) -> aiohttp.ClientTimeout:
        # A separate, shorter connect timeout tells "never reached OK" from "no answer".
        return aiohttp.ClientTimeout(total=self._timeout, sock_connect=self._timeout / 2)

    def _upload_timeout(self) -> aiohttp.ClientTimeout:
        # Large files: no total limit, but a stalled socket still ends the upload.
        return aiohttp.ClientTimeout(
            total=None, sock_connect=self._timeout / 2, sock_read=self._timeout
        )

    async def call(
        self, method: str, params: Mapping[str, str] | None = None, *, idempotent: bool = True
    ) -> Json:
        """Call an API method. `idempotent=False` (mediatopic.post) turns a lost answer into
        OutcomeUnknownError. Raises TransientError, OutcomeUnknownError, PermanentError."""
        form = self.signed_params(method, params or {})
        started = time.monotonic()
        try:
            async with (
                self._throttle(RATE_LIMIT_KIND, self._credentials.access_token),
                self._http.post(
                    self._api_base, data=form, timeout=self._api_timeout()
                ) as response,
            ):
                status = response.status
                body = await response.read()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            logger.warning("OK %s: cannot connect (%s)", method, type(exc).__name__)
            raise self._not_sent(method) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            logger.warning(
                "OK %s: no answer after %.1f s (%s)",
                method,
                time.monotonic() - started,
                type(exc).__name__,
            )
            raise self._lost(method, idempotent=idempotent) from exc
        logger.debug("OK %s: HTTP %s in %.2f s", method, status, time.monotonic() - started)
        if status != 200:
            raise classify_http_status(
                status, method=method, idempotent=idempotent, account=self._account
            )
        result = self._decode(method, body, idempotent=idempotent)
        if isinstance(result, dict) and "error_code" in result:
            code = _int(result.get("error_code"))
            logger.warning("OK %s: error %s", method, code)
            raise classify_api_error(
                code, method=method, idempotent=idempotent, account=self._account
            )
        self.last_success_at = datetime.now(UTC)
        return result

    async def upload_photos(self, upload_url: str, items: Sequence[MediaItem]) -> Json:
        """POST the photos as multipart fields pic1..picN, streamed from disk."""
        return await self._upload("photo upload", upload_url, "pic", items)

    async def upload_video(self, upload_url: str, item: MediaItem) -> Json:
        """POST one video as a multipart upload, streamed from disk (field `file`,
        platforms.md §6)."""
        return await self._upload("video upload", upload_url, "file", [item])

    async def _upload(self, what: str, url: str, field: str, items: Sequence[MediaItem]) -> Json:
        started = time.monotonic()
        with contextlib.ExitStack() as files:
            form = aiohttp.FormData()
            for index, item in enumerate(items, start=1):
                handle = await http_errors.open_media(
                    Platform.OK, item, what, account=self._account
                )
                files.callback(handle.close)
                name = f"{field}{index}" if field == "pic" else field
                form.add_field(name, handle, filename=item.file_name, content_type=item.mime_type)
            try:
                async with (
                    self._throttle(RATE_LIMIT_KIND, self._credentials.access_token),
                    self._http.post(url, data=form, timeout=self._upload_timeout()) as response,
                ):
                    status = response.status
                    body = await response.read()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                # Nothing is published before the topic is posted: an upload is safe to redo.
                # Not chained: aiohttp's text can carry the upload URL and its upload token.
                logger.warning("OK %s failed (%s)", what, type(exc).__name__)
                raise self._not_sent(what) from None
        logger.info(
            "OK %s: HTTP %s, %d file(s), %d bytes in %.2f s",
            what,
            status,
            len(items),
            sum(item.size for item in items),
            time.monotonic() - started,
        )
        if status != 200:
            raise classify_http_status(status, method=what, idempotent=True, account=self._account)
        if not body.strip():
            return None
        result = self._decode(what, body, idempotent=True)
        if isinstance(result, dict) and "error_code" in result:
            raise classify_api_error(
                _int(result.get("error_code")), method=what, idempotent=True, account=self._account
            )
        return result

    def _decode(self, method: str, body: bytes, *, idempotent: bool) -> Json:
        try:
            return cast(Json, json.loads(body))
        except ValueError as exc:
            logger.warning("OK %s: answer is not JSON (%d bytes)", method, len(body))
            raise http_errors.unreadable(
                Platform.OK, method, account=self._account, idempotent=idempotent
            ) from exc

    def _not_sent(self, method: str) -> PublishError:
        return http_errors.not_sent(Platform.OK, method, account=self._account)

    def _lost(self, method: str, *, idempotent: bool) -> PublishError:
        return http_errors.lost(Platform.OK, method, account=self._account, idempotent=idempotent)


def _int(value: Json) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return -1
