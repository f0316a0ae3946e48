"""What the scheduler tells the rest of the service (staff reports, logs) about deliveries."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from crosspost.errors import PublishError
from crosspost.models import Delivery, DeliveryOperation, Notice

logger = logging.getLogger(__name__)


class EventKind(StrEnum):
    PUBLISHED = "published"
    RETRY = "retry"  # a transient error; another attempt is scheduled
    FAILED = "failed"
    UNCERTAIN = "uncertain"  # no answer after the request left; reconcile comes next
    HELD = "held"  # reconcile could not tell: staff decide
    PAUSED = "paused"  # the account's token stopped working: its deliveries are held
    CANCELLED = "cancelled"
    # An edit or delete of a published copy finished (done, unsupported or failed): see
    # `DeliveryEvent.operation`; `delivery` is the copy's delivery.
    OPERATION = "operation"


@dataclass(frozen=True, kw_only=True)
class DeliveryEvent:
    kind: EventKind
    delivery: Delivery
    error: PublishError | None = None
    notices: tuple[Notice, ...] = ()
    retry_at: datetime | None = None
    operation: DeliveryOperation | None = None


class EventSink(Protocol):
    """Receives delivery events after they are committed. Must not raise."""

    async def delivery_event(self, event: DeliveryEvent) -> None: ...


class LogSink:
    """Writes each event to the log; the default when no staff chat is wired."""

    async def delivery_event(self, event: DeliveryEvent) -> None:
        d = event.delivery
        logger.info(
            "delivery=%s account=%s platform=%s event=%s url=%s error=%s",
            d.delivery_id,
            d.account,
            d.platform,
            event.kind,
            d.remote_url,
            event.error,
        )


class FanOutSink:
    """Passes each event to several sinks; one failing sink does not stop the others."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = list(sinks)

    async def delivery_event(self, event: DeliveryEvent) -> None:
        for sink in self.sinks:
            try:
                await sink.delivery_event(event)
            except Exception:
                logger.exception(
                    "event sink %s failed on delivery=%s",
                    type(sink).__name__,
                    event.delivery.delivery_id,
                )
