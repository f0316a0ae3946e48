"""Neutral rich text: plain text plus spans, built from Telegram entities, rendered per platform.

Offsets here are Python string indices (code points); Telegram's UTF-16 offsets are converted at
the edge (from_telegram / to_telegram_entities).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SpanKind(StrEnum):
    BOLD = "bold"
    ITALIC = "italic"
    UNDERLINE = "underline"
    STRIKE = "strike"
    SPOILER = "spoiler"
    CODE = "code"
    PRE = "pre"
    LINK = "link"  # url holds the target (text_link, and bare urls)
    MENTION = "mention"  # @name, or a text_mention (url = tg://user?id=…)
    HASHTAG = "hashtag"
    QUOTE = "quote"


@dataclass(frozen=True, kw_only=True)
class Span:
    kind: SpanKind
    start: int
    end: int
    url: str | None = None
    language: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad span bounds {self.start}..{self.end}")


@dataclass(frozen=True, kw_only=True)
class RichText:
    text: str = ""
    spans: tuple[Span, ...] = ()

    def __post_init__(self) -> None:
        for span in self.spans:
            if span.end > len(self.text):
                raise ValueError("span runs past the end of the text")

    @classmethod
    def plain(cls, text: str) -> RichText:
        return cls(text=text)
