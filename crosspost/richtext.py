"""Neutral rich text: plain text plus spans, built from Telegram entities, rendered per platform.

Offsets here are Python string indices (code points); Telegram's UTF-16 offsets are converted at
the edge (from_telegram / to_telegram_entities).

Policies for plain text (VK, OK), which has no markup: a spoiler is shown as ordinary text (in
Telegram it hides nothing from anyone who taps it, and the post is public); quotes, code and pre
keep their text as is; @mentions and hashtags stay as typed (both platforms link hashtags);
a mention of a user by id (tg://user?id=N) keeps only the name, since the link works only inside
Telegram; any other link becomes "text (url)" unless the text already is the url.
"""

from __future__ import annotations

import bisect
import html
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from crosspost import texts


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


_KIND_ORDER: dict[SpanKind, int] = {kind: index for index, kind in enumerate(SpanKind)}

# Telegram entity type -> span kind; types missing here (email, phone_number, bot_command,
# custom_emoji, date_time, and whatever Telegram adds later) are dropped, their text kept.
_FROM_TELEGRAM: dict[str, SpanKind] = {
    "bold": SpanKind.BOLD,
    "italic": SpanKind.ITALIC,
    "underline": SpanKind.UNDERLINE,
    "strikethrough": SpanKind.STRIKE,
    "spoiler": SpanKind.SPOILER,
    "code": SpanKind.CODE,
    "pre": SpanKind.PRE,
    "text_link": SpanKind.LINK,
    "url": SpanKind.LINK,
    "mention": SpanKind.MENTION,
    "text_mention": SpanKind.MENTION,
    "hashtag": SpanKind.HASHTAG,
    "cashtag": SpanKind.HASHTAG,
    "blockquote": SpanKind.QUOTE,
    "expandable_blockquote": SpanKind.QUOTE,
}
_TO_TELEGRAM: dict[SpanKind, str] = {
    SpanKind.BOLD: "bold",
    SpanKind.ITALIC: "italic",
    SpanKind.UNDERLINE: "underline",
    SpanKind.STRIKE: "strikethrough",
    SpanKind.SPOILER: "spoiler",
    SpanKind.CODE: "code",
    SpanKind.PRE: "pre",
    SpanKind.QUOTE: "blockquote",
}
_USER_LINK = "tg://user?id="
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Rendered:
    text: str
    truncated: bool


def utf16_len(s: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram offsets and length limits."""
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def _span_key(span: Span) -> tuple[int, int, int, str, str]:
    return (span.start, -span.end, _KIND_ORDER[span.kind], span.url or "", span.language or "")


def _normalized(spans: Iterable[Span]) -> tuple[Span, ...]:
    return tuple(sorted(set(spans), key=_span_key))


def _utf16_starts(text: str) -> list[int]:
    """UTF-16 position of each code point, plus the total length at the end."""
    starts = [0] * (len(text) + 1)
    position = 0
    for index, char in enumerate(text):
        starts[index] = position
        position += 2 if ord(char) > 0xFFFF else 1
    starts[len(text)] = position
    return starts


def _as_int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _user_id(user: object) -> int | None:
    if isinstance(user, Mapping):
        return _as_int(user.get("id"))
    return _as_int(getattr(user, "id", None))


def _span_from_entity(entity: Mapping[str, Any], text: str, starts: list[int]) -> Span | None:
    kind = _FROM_TELEGRAM.get(str(entity.get("type")))
    offset = _as_int(entity.get("offset"))
    length = _as_int(entity.get("length"))
    if kind is None or offset is None or length is None or length <= 0:
        return None
    total = starts[-1]
    end16 = min(offset + length, total)
    start16 = max(offset, 0)
    if start16 >= end16:
        return None
    # An edge inside a surrogate pair widens the span to the whole character.
    start = bisect.bisect_right(starts, start16) - 1
    end = bisect.bisect_left(starts, end16)
    url: str | None = None
    language: str | None = None
    entity_type = entity.get("type")
    if entity_type == "url":
        url = text[start:end]
    elif entity_type == "text_link":
        raw_url = entity.get("url")
        if not isinstance(raw_url, str) or not raw_url:
            return None
        url = raw_url
        if url.startswith(_USER_LINK):
            kind = SpanKind.MENTION
    elif entity_type == "text_mention":
        user_id = _user_id(entity.get("user"))
        if user_id is None:
            return None
        url = f"{_USER_LINK}{user_id}"
    elif entity_type == "pre":
        raw_language = entity.get("language")
        language = raw_language if isinstance(raw_language, str) and raw_language else None
    return Span(kind=kind, start=start, end=end, url=url, language=language)


def from_telegram(text: str, entities: Sequence[Mapping[str, Any]] | None) -> RichText:
    """Build rich text from a Telegram text/caption and its entities (UTF-16 offsets).

    Never raises: malformed entities are skipped, out-of-range ones clamped, lone surrogates
    replaced with U+FFFD (one UTF-16 unit each, so offsets keep their meaning).
    """
    if not isinstance(text, str):
        text = ""
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    starts = _utf16_starts(text)
    spans: list[Span] = []
    for entity in entities or ():
        if not isinstance(entity, Mapping):
            continue
        span = _span_from_entity(entity, text, starts)
        if span is not None:
            spans.append(span)
    return RichText(text=text, spans=_normalized(spans))


def to_telegram_entities(rt: RichText) -> list[dict[str, Any]]:
    """Telegram entity dicts (UTF-16 offsets) for `rt`; send them with parse_mode=None.

    A mention of a user by id becomes a text_link to tg://user?id=N, which Telegram treats as
    a text_mention and which needs no User object.
    """
    starts = _utf16_starts(rt.text)
    result: list[dict[str, Any]] = []
    for span in _normalized(rt.spans):
        if span.start == span.end:
            continue
        visible = rt.text[span.start : span.end]
        entity: dict[str, Any] = {
            "type": "",
            "offset": starts[span.start],
            "length": starts[span.end] - starts[span.start],
        }
        if span.kind in _TO_TELEGRAM:
            entity["type"] = _TO_TELEGRAM[span.kind]
            if span.kind is SpanKind.PRE and span.language:
                entity["language"] = span.language
        elif span.kind is SpanKind.HASHTAG:
            entity["type"] = "cashtag" if visible.startswith("$") else "hashtag"
        elif span.url is None:
            if span.kind is not SpanKind.MENTION:
                continue
            entity["type"] = "mention"
        elif span.kind is SpanKind.LINK and span.url == visible:
            entity["type"] = "url"
        else:
            entity["type"] = "text_link"
            entity["url"] = span.url
        result.append(entity)
    return result


# --- truncation -------------------------------------------------------------------------------

_SENTENCE_END = frozenset(".!?…")
_CLOSERS = frozenset("\"'»”’)]")
# A sentence or word boundary is used only if it keeps at least this share of what would fit;
# otherwise a long sentence (or a long token) would throw away most of the room.
_MIN_KEEP_SENTENCE = 0.5
_MIN_KEEP_WORD = 0.5
_MAX_CLUSTER_BACKOFF = 32
# Left dangling at a mid-sentence cut, these read as an error before the ellipsis.
_DANGLING = " \t\n\r,;:-–—"


def _is_extender(char: str) -> bool:
    code = ord(char)
    return (
        code == 0x200D  # zero width joiner
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tone modifiers
        or 0xE0020 <= code <= 0xE007F  # emoji tag sequences (subdivision flags)
        or 0xDC00 <= code <= 0xDFFF  # low surrogate of a pair split across code points
        or unicodedata.category(char) in ("Mn", "Me", "Mc")
    )


def _is_regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _inside_cluster(text: str, cut: int) -> bool:
    if cut <= 0 or cut >= len(text):
        return False
    if _is_extender(text[cut]) or text[cut - 1] == "\u200d":
        return True
    if _is_regional(text[cut]) and _is_regional(text[cut - 1]):
        run = 0
        while cut - run - 1 >= 0 and _is_regional(text[cut - run - 1]):
            run += 1
        return run % 2 == 1
    return False


def _cluster_cut(text: str, cut: int) -> int:
    """Move `cut` back to a grapheme-ish boundary (emoji ZWJ sequences, flags, combining marks)."""
    candidate = cut
    for _ in range(_MAX_CLUSTER_BACKOFF):
        if not _inside_cluster(text, candidate):
            return candidate
        candidate -= 1
    # A pathological cluster: cut inside it, but never between the halves of a surrogate pair.
    if 0 < cut < len(text) and 0xDC00 <= ord(text[cut]) <= 0xDFFF:
        return cut - 1
    return cut


def _fitting_prefix(text: str, budget: int, measure: Callable[[str], int]) -> int:
    """The longest n with measure(text[:n]) <= budget; measure must grow with the prefix."""
    if measure is len:
        return min(budget, len(text))
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def _sentence_cut(text: str, fit: int) -> int | None:
    for position in range(fit, 0, -1):
        if position < len(text) and not text[position].isspace():
            continue
        if text[position - 1] == "\n" or (position < len(text) and text[position] == "\n"):
            return position
        back = position - 1
        while back > 0 and text[back] in _CLOSERS:
            back -= 1
        if text[back] in _SENTENCE_END:
            return position
    return None


def _word_cut(text: str, fit: int) -> int | None:
    for position in range(fit, 0, -1):
        if position == len(text) or text[position].isspace() or text[position] in ",;:":
            return position
    return None


def _atomic_cut(rt: RichText, cut: int) -> int:
    """Do not hard-cut inside a bare url, a @mention or a hashtag: a broken one misleads."""
    for span in rt.spans:
        atomic = span.kind in (SpanKind.HASHTAG, SpanKind.MENTION) or (
            span.kind is SpanKind.LINK and span.url == rt.text[span.start : span.end]
        )
        if atomic and span.start < cut < span.end and span.start > 0:
            cut = span.start
    return cut


def _clip(rt: RichText, cut: int, *, dangling: str | None = None) -> RichText:
    text = rt.text[:cut].rstrip(dangling)
    spans = (
        Span(
            kind=span.kind,
            start=span.start,
            end=min(span.end, len(text)),
            url=span.url,
            language=span.language,
        )
        for span in rt.spans
        if span.start < len(text)
    )
    return RichText(text=text, spans=_normalized(spans))


def truncate(
    rt: RichText, limit: int, *, measure: Callable[[str], int] = len, reserve: int = 0
) -> tuple[RichText, bool]:
    """Cut `rt` so that measure(text) + reserve <= limit; returns (text, whether it was cut).

    Cuts after a sentence end (or at a line break), else at a word boundary, else hard at a
    grapheme-ish boundary; spans are clipped, emptied ones dropped. `measure` must not shrink
    as the text grows (len for characters, utf16_len for Telegram).
    """
    budget = limit - reserve
    if measure(rt.text) <= budget:
        return rt, False
    if budget <= 0:
        return RichText(), True
    text = rt.text
    fit = _fitting_prefix(text, budget, measure)
    cut = _sentence_cut(text, fit)
    if cut is not None and cut >= fit * _MIN_KEEP_SENTENCE:
        return _clip(rt, cut), True
    cut = _word_cut(text, fit)
    if cut is None or cut < fit * _MIN_KEEP_WORD:
        cut = _cluster_cut(text, _atomic_cut(rt, fit))
    return _clip(rt, cut, dangling=_DANGLING), True


# --- plain text (VK, OK) ----------------------------------------------------------------------


def _scrub(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def _same_target(visible: str, url: str) -> bool:
    def bare(value: str) -> str:
        value = value.strip().lower()
        for prefix in ("https://", "http://"):
            value = value.removeprefix(prefix)
        return value.removeprefix("www.").rstrip("/")

    return visible == url or bare(visible) == bare(url)


def _plain_expansion(rt: RichText, span: Span) -> str | None:
    """The " (url)" a plain-text platform needs to keep a link, or None."""
    if span.kind not in (SpanKind.LINK, SpanKind.MENTION) or not span.url:
        return None
    # tg:// links (user mentions by id, tg://resolve) lead nowhere outside Telegram.
    if span.url.startswith("tg://"):
        return None
    if _same_target(rt.text[span.start : span.end], span.url):
        return None
    return f" ({span.url})"


def _plain(rt: RichText) -> str:
    inserts: dict[int, list[str]] = {}
    for span in _normalized(rt.spans):
        expansion = _plain_expansion(rt, span)
        if expansion is not None:
            inserts.setdefault(span.end, []).append(expansion)
    if not inserts:
        return _scrub(rt.text)
    parts: list[str] = []
    previous = 0
    for position in sorted(inserts):
        parts.append(rt.text[previous:position])
        parts.extend(inserts[position])
        previous = position
    parts.append(rt.text[previous:])
    return _scrub("".join(parts))


def _suffixes(more_url: str | None) -> list[str]:
    """Tails to try, best first; each starts with its separator from the cut text."""
    tails = [f"\n\n{texts.READ_MORE.format(url=more_url)}"] if more_url else []
    return [*tails, f" {texts.ELLIPSIS}"]


def _join(body: str, tail: str) -> str:
    if not body:
        return tail.lstrip()
    if tail.lstrip() == texts.ELLIPSIS and body.endswith(texts.ELLIPSIS):
        return body
    if tail.startswith(" ") and body[-1] not in _SENTENCE_END:
        # "…слово…" reads better than "…слово …"; after a sentence end keep the space.
        return body + tail[1:]
    return body + tail


def _fit_suffix(limit: int, more_url: str | None, measure: Callable[[str], int]) -> str | None:
    for tail in _suffixes(more_url):
        if measure(tail.lstrip()) <= limit:
            return tail
    return None


def render_plain(
    rt: RichText, *, limit: int | None = None, more_url: str | None = None
) -> Rendered:
    """Plain text for VK and OK; `limit` counts characters (code points) of the final string.

    Links become "text (url)" unless the text is the url; tg:// links, mentions, hashtags,
    quotes, code and spoilers keep their text (a spoiler is public once tapped, so it is shown).
    Over the limit the text is cut (see truncate) and texts.READ_MORE with `more_url` or
    texts.ELLIPSIS appended, within the limit.
    """
    full = _plain(rt)
    if limit is None or len(full) <= limit:
        return Rendered(text=full, truncated=False)
    tail = _fit_suffix(limit, more_url, len)
    if tail is None:
        return Rendered(text=_scrub(truncate(rt, limit)[0].text), truncated=True)
    budget = limit
    while True:
        cut, _ = truncate(rt, budget, reserve=len(tail))
        out = _join(_plain(cut), tail)
        if len(out) <= limit:
            return Rendered(text=out, truncated=True)
        # " (url)" expansions grew the text: shrink the budget by the overshoot and cut again.
        budget -= len(out) - limit


# --- Telegram HTML ----------------------------------------------------------------------------

_FORMATTING = frozenset(
    {SpanKind.BOLD, SpanKind.ITALIC, SpanKind.UNDERLINE, SpanKind.STRIKE, SpanKind.SPOILER}
)
# Telegram: these "can't contain each other"; code and pre contain nothing at all.
_EXCLUSIVE = frozenset({SpanKind.CODE, SpanKind.PRE, SpanKind.LINK, SpanKind.MENTION})
_TAGS: dict[SpanKind, tuple[str, str]] = {
    SpanKind.BOLD: ("<b>", "</b>"),
    SpanKind.ITALIC: ("<i>", "</i>"),
    SpanKind.UNDERLINE: ("<u>", "</u>"),
    SpanKind.STRIKE: ("<s>", "</s>"),
    SpanKind.SPOILER: ("<tg-spoiler>", "</tg-spoiler>"),
    SpanKind.CODE: ("<code>", "</code>"),
    SpanKind.QUOTE: ("<blockquote>", "</blockquote>"),
}
_BAD_URL = re.compile(r"[\s\x00-\x1f\x7f]")


def _html_link_target(rt: RichText, span: Span) -> str | None:
    """The href to emit, or None when Telegram links the text by itself (or cannot at all)."""
    if not span.url or _BAD_URL.search(span.url):
        return None
    if span.kind is SpanKind.LINK and span.url == rt.text[span.start : span.end]:
        return None  # a bare url: Telegram detects it, and "example.com" is no valid href
    return span.url


def _subtract(span: Span, holes: Sequence[Span]) -> list[Span]:
    pieces = [span]
    for hole in holes:
        next_pieces: list[Span] = []
        for piece in pieces:
            if hole.end <= piece.start or piece.end <= hole.start:
                next_pieces.append(piece)
                continue
            if piece.start < hole.start:
                next_pieces.append(replace(piece, end=hole.start))
            if hole.end < piece.end:
                next_pieces.append(replace(piece, start=hole.end))
        pieces = next_pieces
    return pieces


def _telegram_spans(rt: RichText) -> list[Span]:
    """Spans reshaped to Telegram's nesting rules (what a client could have produced)."""
    spans = [s for s in _normalized(rt.spans) if s.start < s.end]
    quotes: list[Span] = []
    for span in (s for s in spans if s.kind is SpanKind.QUOTE):
        if quotes and span.start < quotes[-1].end:
            quotes[-1] = replace(quotes[-1], end=max(quotes[-1].end, span.end))
        else:
            quotes.append(span)
    exclusive: list[Span] = []
    for span in spans:
        if span.kind not in _EXCLUSIVE:
            continue
        if span.kind in (SpanKind.LINK, SpanKind.MENTION):
            target = _html_link_target(rt, span)
            if target is None:
                continue
            span = replace(span, kind=SpanKind.LINK, url=target)
        if all(span.start >= kept.end or span.end <= kept.start for kept in exclusive):
            exclusive.append(span)
    code = [s for s in exclusive if s.kind in (SpanKind.CODE, SpanKind.PRE)]
    formatting: list[Span] = []
    for span in spans:
        if span.kind not in _FORMATTING:
            continue
        # Overlapping spans of one kind are one span: no <b> inside <b>.
        same = [i for i, kept in enumerate(formatting) if kept.kind is span.kind]
        if same and span.start <= formatting[same[-1]].end:
            last = formatting[same[-1]]
            formatting[same[-1]] = replace(last, end=max(last.end, span.end))
        else:
            formatting.append(span)
    formatting = [piece for span in formatting for piece in _subtract(span, code)]
    return sorted({*quotes, *exclusive, *formatting}, key=_span_key)


def _open_tag(span: Span) -> str:
    if span.kind is SpanKind.LINK:
        return f'<a href="{html.escape(span.url or "", quote=True)}">'
    if span.kind is SpanKind.PRE:
        if span.language:
            return f'<pre><code class="language-{html.escape(span.language, quote=True)}">'
        return "<pre>"
    return _TAGS[span.kind][0]


def _close_tag(span: Span) -> str:
    if span.kind is SpanKind.LINK:
        return "</a>"
    if span.kind is SpanKind.PRE:
        return "</code></pre>" if span.language else "</pre>"
    return _TAGS[span.kind][1]


def _nesting_key(span: Span) -> tuple[int, tuple[int, int, int, str, str]]:
    # Quotes go outermost: a quote split by an overlapping bold would become two quotes.
    return (0 if span.kind is SpanKind.QUOTE else 1, _span_key(span))


def _html(rt: RichText) -> str:
    text = _scrub(rt.text)
    spans = _telegram_spans(rt)
    edges = sorted({0, len(text)} | {s.start for s in spans} | {s.end for s in spans})
    stack: list[Span] = []
    parts: list[str] = []
    for start, end in itertools.pairwise(edges):
        wanted = sorted((s for s in spans if s.start <= start < s.end), key=_nesting_key)
        keep = 0
        while keep < min(len(stack), len(wanted)) and stack[keep] == wanted[keep]:
            keep += 1
        parts.extend(_close_tag(span) for span in reversed(stack[keep:]))
        parts.extend(_open_tag(span) for span in wanted[keep:])
        stack = wanted
        parts.append(html.escape(text[start:end], quote=False))
    parts.extend(_close_tag(span) for span in reversed(stack))
    return "".join(parts)


def render_telegram_html(
    rt: RichText, *, limit: int | None = None, more_url: str | None = None
) -> Rendered:
    """Telegram HTML (parse_mode="HTML"); `limit` counts the visible text in UTF-16 units.

    Overlapping spans are split into nested pieces; spans Telegram cannot nest are dropped
    (formatting inside code/pre, a link overlapping another link or code), the text kept.
    Over the limit the visible text is cut (see truncate) and texts.READ_MORE with `more_url`
    or texts.ELLIPSIS appended, within the limit.
    """
    if limit is None or utf16_len(rt.text) <= limit:
        return Rendered(text=_html(rt), truncated=False)
    tail = _fit_suffix(limit, more_url, utf16_len)
    if tail is None:
        cut, _ = truncate(rt, limit, measure=utf16_len)
        return Rendered(text=_html(cut), truncated=True)
    cut, _ = truncate(rt, limit, measure=utf16_len, reserve=utf16_len(tail))
    body = _html(cut)
    joined = _join(cut.text, tail)
    return Rendered(
        text=body + html.escape(_scrub(joined[len(cut.text) :]), quote=False), truncated=True
    )
