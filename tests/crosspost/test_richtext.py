"""Rich text: Telegram entities in and out, plain and Telegram HTML rendering, truncation."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, cast

import pytest
from aiogram.types import MessageEntity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crosspost import texts
from crosspost.richtext import (
    Rendered,
    RichText,
    Span,
    SpanKind,
    from_telegram,
    render_plain,
    render_telegram_html,
    to_telegram_entities,
    truncate,
    utf16_len,
)

# Each token is one user-perceived character (or a run of whitespace/punctuation).
TOKENS = [
    "a",
    "Z",
    "7",
    " ",
    " ",
    "\n",
    ".",
    "!",
    "?",
    "…",
    ",",
    "»",
    "я",
    "Ж",
    "ё",
    "😀",
    "👍🏽",
    "👨‍👩‍👧",
    "🇷🇺",
    "❤️",
    "e\u0301",
    "𝕏",
    "中",
    "<",
    ">",
    "&",
    '"',
    "'",
    "#",
    "@",
]
URLS = [
    "https://spassk-d.ru/news?id=1&x=\"'<>",
    "https://example.com",
    "http://пример.рф/путь",
    "tg://user?id=42",
    "tg://resolve?domain=spassk",
    "example.com",
    "",
    "not a url",
]
ENTITY_TYPES = [
    "bold",
    "italic",
    "underline",
    "strikethrough",
    "spoiler",
    "code",
    "pre",
    "text_link",
    "url",
    "mention",
    "text_mention",
    "hashtag",
    "cashtag",
    "blockquote",
    "expandable_blockquote",
    "email",
    "phone_number",
    "bot_command",
    "custom_emoji",
    "date_time",
    "no_such_type",
]
ALLOWED_TAGS = {"b", "i", "u", "s", "tg-spoiler", "code", "pre", "a", "blockquote"}
TAG_KIND = {
    "b": SpanKind.BOLD,
    "i": SpanKind.ITALIC,
    "u": SpanKind.UNDERLINE,
    "s": SpanKind.STRIKE,
    "tg-spoiler": SpanKind.SPOILER,
    "blockquote": SpanKind.QUOTE,
}
ENTITY_REF = re.compile(r"&(?!(?:amp|lt|gt|quot|#\d+|#x[0-9a-fA-F]+);)")


@st.composite
def token_texts(draw: st.DrawFn, max_tokens: int = 40) -> list[str]:
    return draw(st.lists(st.sampled_from(TOKENS), max_size=max_tokens))


@st.composite
def entity(draw: st.DrawFn, size: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "type": draw(st.sampled_from(ENTITY_TYPES)),
        "offset": draw(st.integers(-3, size + 3)),
        "length": draw(st.integers(-2, size + 4)),
    }
    if draw(st.booleans()):
        result["url"] = draw(st.sampled_from([*URLS, None]))
    if draw(st.booleans()):
        result["user"] = draw(st.sampled_from([{"id": 42}, {"id": "x"}, None, {}, 7]))
    if draw(st.booleans()):
        result["language"] = draw(st.sampled_from(["python", "", None, 'x"><b>']))
    return result


junk_entity = st.one_of(
    st.dictionaries(
        st.sampled_from(["type", "offset", "length", "url", "user", "language"]),
        st.one_of(st.integers(), st.text(max_size=5), st.none(), st.booleans(), st.floats()),
    ),
    st.integers(),
    st.none(),
)


@st.composite
def telegram_messages(draw: st.DrawFn) -> tuple[str, list[Any]]:
    text = "".join(draw(token_texts()))
    size = utf16_len(text)
    entities: list[Any] = draw(st.lists(st.one_of(entity(size), junk_entity), max_size=8))
    return text, entities


@st.composite
def rich_texts(draw: st.DrawFn) -> RichText:
    text, entities = draw(telegram_messages())
    return from_telegram(text, entities)


@dataclass
class ParsedHtml:
    text: str = ""
    elements: list[tuple[str, int, int, dict[str, str | None]]] = field(default_factory=list)

    def covered(self, tag: str) -> set[int]:
        return {
            i for name, start, end, _ in self.elements if name == tag for i in range(start, end)
        }


class TelegramHtmlChecker(HTMLParser):
    """Parses like Telegram's HTML mode, failing on anything Telegram would reject."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.result = ParsedHtml()
        self.stack: list[tuple[str, int, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED_TAGS, tag
        open_tags = [name for name, _, _ in self.stack]
        # Telegram: code and pre contain nothing, links and quotes do not nest.
        assert not ({"code", "pre"} & set(open_tags)) or (tag == "code" and open_tags[-1] == "pre")
        assert tag not in ("a", "code", "pre") or not {"a"} & set(open_tags)
        assert tag != "blockquote" or "blockquote" not in open_tags
        attributes = dict(attrs)
        if tag == "a":
            assert attributes.get("href"), attrs
        elif tag == "code" and attributes:
            assert self.stack, "code with a class outside pre"
            assert self.stack[-1][0] == "pre"
            assert set(attributes) == {"class"}
        else:
            assert not attributes, attrs
        self.stack.append((tag, len(self.result.text), attributes))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack, f"stray </{tag}>"
        name, start, attributes = self.stack.pop()
        assert name == tag, f"<{name}> closed by </{tag}>"
        self.result.elements.append((tag, start, len(self.result.text), attributes))

    def handle_data(self, data: str) -> None:
        self.result.text += data


def parse_html(markup: str) -> ParsedHtml:
    assert not ENTITY_REF.search(markup), markup
    checker = TelegramHtmlChecker()
    checker.feed(markup)
    checker.close()
    assert not checker.stack, markup
    return checker.result


def encodes_strictly(text: str) -> None:
    text.encode("utf-8", "strict")
    text.encode("utf-16", "strict")


def covered(rt: RichText, kind: SpanKind) -> set[int]:
    return {i for s in rt.spans if s.kind is kind for i in range(s.start, s.end)}


def is_subsequence(needle: str, haystack: str) -> bool:
    rest = iter(haystack)
    return all(char in rest for char in needle)


# --- worked examples --------------------------------------------------------------------------


def test_utf16_offsets_of_an_emoji_prefixed_text() -> None:
    entities = [{"type": "bold", "offset": 3, "length": 2}]

    rt = from_telegram("😀 Hi", entities)

    assert rt.spans == (Span(kind=SpanKind.BOLD, start=2, end=4),)
    assert rt.text[2:4] == "Hi"
    assert to_telegram_entities(rt) == entities
    assert utf16_len("😀 Hi") == 5


def test_russian_post_with_a_text_link_renders_as_text_then_url() -> None:
    text = "Приём граждан переносится. Подробнее"
    offset = utf16_len(text) - len("Подробнее")
    rt = from_telegram(
        text,
        [{"type": "text_link", "offset": offset, "length": 9, "url": "https://spassk-d.ru/n/1"}],
    )

    assert render_plain(rt).text == (
        "Приём граждан переносится. Подробнее (https://spassk-d.ru/n/1)"
    )
    assert render_telegram_html(rt).text == (
        'Приём граждан переносится. <a href="https://spassk-d.ru/n/1">Подробнее</a>'
    )


def test_every_telegram_entity_type_maps_to_its_kind() -> None:
    text = "b i u s sp c pre L u @m M #t $T q Q e"
    words = text.split(" ")
    offsets = [text.index(w) if w else 0 for w in words]
    types = [
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "code",
        "pre",
        "text_link",
        "url",
        "mention",
        "text_mention",
        "hashtag",
        "cashtag",
        "blockquote",
        "expandable_blockquote",
        "email",
    ]
    entities = [
        {
            "type": kind,
            "offset": offset,
            "length": len(word),
            "url": "https://x.ru",
            "language": "python",
            "user": {"id": 7, "is_bot": False, "first_name": "M"},
        }
        for kind, offset, word in zip(types, offsets, words, strict=False)
    ]

    rt = from_telegram(text, entities)

    got = {(rt.text[s.start : s.end], s.kind, s.url, s.language) for s in rt.spans}
    assert got == {
        ("b", SpanKind.BOLD, None, None),
        ("i", SpanKind.ITALIC, None, None),
        ("u", SpanKind.UNDERLINE, None, None),
        ("s", SpanKind.STRIKE, None, None),
        ("sp", SpanKind.SPOILER, None, None),
        ("c", SpanKind.CODE, None, None),
        ("pre", SpanKind.PRE, None, "python"),
        ("L", SpanKind.LINK, "https://x.ru", None),
        ("u", SpanKind.LINK, "u", None),
        ("@m", SpanKind.MENTION, None, None),
        ("M", SpanKind.MENTION, "tg://user?id=7", None),
        ("#t", SpanKind.HASHTAG, None, None),
        ("$T", SpanKind.HASHTAG, None, None),
        ("q", SpanKind.QUOTE, None, None),
        ("Q", SpanKind.QUOTE, None, None),
    }


def test_aiogram_entity_dumps_are_accepted() -> None:
    entities = [
        MessageEntity(type="bold", offset=0, length=4).model_dump(),
        MessageEntity(type="pre", offset=5, length=3, language="py").model_dump(),
    ]

    rt = from_telegram("Жирн код", entities)

    assert [(s.kind, s.language) for s in rt.spans] == [
        (SpanKind.BOLD, None),
        (SpanKind.PRE, "py"),
    ]


@pytest.mark.parametrize(
    ("entity", "expected"),
    [
        ({"type": "bold", "offset": 4, "length": 100}, (3, 5)),  # past the end: clamped
        ({"type": "bold", "offset": -2, "length": 5}, (0, 2)),  # before the start: clamped
        ({"type": "bold", "offset": 1, "length": 1}, (0, 1)),  # half of 😀: whole character
        ({"type": "bold", "offset": 0, "length": 1}, (0, 1)),
        ({"type": "bold", "offset": 2, "length": 0}, None),  # zero length: dropped
        ({"type": "bold", "offset": 9, "length": 3}, None),  # wholly past the end
        ({"type": "bold", "offset": 1, "length": -1}, None),
        ({"type": "bold", "offset": "1", "length": 2}, None),
        ({"type": "bold", "offset": True, "length": 2}, None),
        ({"type": "text_link", "offset": 0, "length": 2}, None),  # no url
        ({"type": "text_mention", "offset": 0, "length": 2, "user": {"id": "x"}}, None),
        ({"type": "custom_emoji", "offset": 0, "length": 2}, None),
        ({"offset": 0, "length": 2}, None),
    ],
)
def test_malformed_entities_are_clamped_or_skipped(
    entity: dict[str, Any], expected: tuple[int, int] | None
) -> None:
    rt = from_telegram("😀 Hi😀", [entity])  # 5 code points, 7 UTF-16 units

    assert rt.text == "😀 Hi😀"
    assert [(s.start, s.end) for s in rt.spans] == ([expected] if expected else [])


def test_lone_surrogates_become_replacement_characters_without_shifting_offsets() -> None:
    rt = from_telegram("\ud83dab\ude00", [{"type": "bold", "offset": 1, "length": 2}])

    assert rt.text == "\ufffdab\ufffd"
    assert rt.text[rt.spans[0].start : rt.spans[0].end] == "ab"


def test_none_or_junk_entities() -> None:
    junk = cast(Sequence[Mapping[str, Any]], [None, 5, "bold", {"type": None}])

    assert from_telegram("текст", None) == RichText.plain("текст")
    assert from_telegram("текст", junk) == RichText.plain("текст")


def test_user_mentions_go_back_to_telegram_as_tg_user_links() -> None:
    rt = from_telegram(
        "Глава", [{"type": "text_mention", "offset": 0, "length": 5, "user": {"id": 9}}]
    )

    entities = to_telegram_entities(rt)

    assert entities == [{"type": "text_link", "offset": 0, "length": 5, "url": "tg://user?id=9"}]
    assert from_telegram(rt.text, entities) == rt
    assert render_plain(rt).text == "Глава"
    assert render_telegram_html(rt).text == '<a href="tg://user?id=9">Глава</a>'


def test_plain_keeps_hashtags_mentions_bare_urls_and_spoilers() -> None:
    text = "#Спасск @admin https://spassk-d.ru секрет сайт"
    rt = from_telegram(
        text,
        [
            {"type": "hashtag", "offset": 0, "length": 7},
            {"type": "mention", "offset": 8, "length": 6},
            {"type": "url", "offset": 15, "length": 19},
            {"type": "spoiler", "offset": 35, "length": 6},
            {"type": "text_link", "offset": 42, "length": 4, "url": "https://spassk-d.ru/"},
        ],
    )

    assert render_plain(rt).text == text + " (https://spassk-d.ru/)"
    assert render_telegram_html(rt).text == (
        "#Спасск @admin https://spassk-d.ru <tg-spoiler>секрет</tg-spoiler> "
        '<a href="https://spassk-d.ru/">сайт</a>'
    )


def test_link_text_that_is_its_url_is_not_repeated() -> None:
    rt = from_telegram(
        "spassk-d.ru",
        [{"type": "text_link", "offset": 0, "length": 11, "url": "https://spassk-d.ru/"}],
    )

    assert render_plain(rt).text == "spassk-d.ru"


def test_html_escapes_text_and_href() -> None:
    url = "https://x.ru/?a=1&b=\"2\"&c='3'<>"
    rt = RichText(text="<a & b>", spans=(Span(kind=SpanKind.LINK, start=0, end=7, url=url),))

    markup = render_telegram_html(rt).text

    assert markup == (
        '<a href="https://x.ru/?a=1&amp;b=&quot;2&quot;&amp;c=&#x27;3&#x27;&lt;&gt;">'
        "&lt;a &amp; b&gt;</a>"
    )
    parsed = parse_html(markup)
    assert parsed.text == "<a & b>"
    assert parsed.elements[0][3] == {"href": url}


def test_overlapping_spans_become_nested_pieces() -> None:
    rt = RichText(
        text="abcdef",
        spans=(
            Span(kind=SpanKind.BOLD, start=0, end=4),
            Span(kind=SpanKind.ITALIC, start=2, end=6),
        ),
    )

    assert render_telegram_html(rt).text == "<b>ab<i>cd</i></b><i>ef</i>"


def test_quotes_stay_outermost_and_in_one_piece() -> None:
    rt = RichText(
        text="abcdef",
        spans=(
            Span(kind=SpanKind.BOLD, start=0, end=4),
            Span(kind=SpanKind.QUOTE, start=2, end=6),
        ),
    )

    assert render_telegram_html(rt).text == "<b>ab</b><blockquote><b>cd</b>ef</blockquote>"


def test_overlapping_and_nested_quotes_become_one_quote() -> None:
    text = "первая строка\nвторая\nтретья"
    entities = [
        {"type": "blockquote", "offset": 0, "length": 20},
        {"type": "expandable_blockquote", "offset": 14, "length": 13},
        {"type": "blockquote", "offset": 2, "length": 3},
    ]

    markup = render_telegram_html(from_telegram(text, entities)).text

    assert markup == f"<blockquote>{text}</blockquote>"


def test_pre_with_language_and_nothing_inside_code() -> None:
    rt = RichText(
        text="x = 1; y",
        spans=(
            Span(kind=SpanKind.BOLD, start=0, end=8),
            Span(kind=SpanKind.PRE, start=0, end=6, language="python"),
        ),
    )

    assert render_telegram_html(rt).text == (
        '<pre><code class="language-python">x = 1;</code></pre><b> y</b>'
    )
    assert render_plain(rt).text == "x = 1; y"


def test_bare_urls_are_left_to_telegram_autolinking() -> None:
    rt = from_telegram("см. spassk-d.ru", [{"type": "url", "offset": 4, "length": 11}])

    assert render_telegram_html(rt).text == "см. spassk-d.ru"
    assert render_plain(rt).text == "см. spassk-d.ru"


# --- truncation examples ----------------------------------------------------------------------


def test_cut_at_a_sentence_end_with_read_more() -> None:
    kept = "Первое предложение. Второе предложение, довольно длинное."
    text = kept + " Третье предложение, очень длинное" + ", и ещё длиннее" * 8 + "."
    url = "https://t.me/spassk/10"
    tail = "\n\n" + texts.READ_MORE.format(url=url)
    limit = len(kept) + len(tail) + 20

    rendered = render_plain(RichText.plain(text), limit=limit, more_url=url)

    assert rendered == Rendered(text=kept + tail, truncated=True)


def test_cut_at_a_word_when_no_sentence_ends_in_reach() -> None:
    text = "Слово " * 20

    rendered = render_plain(RichText.plain(text), limit=20)

    assert rendered == Rendered(text="Слово Слово Слово…", truncated=True)


def test_no_dangling_comma_or_double_ellipsis() -> None:
    assert render_plain(RichText.plain("Раз, два, три, четыре"), limit=10).text == "Раз, два…"
    assert render_plain(RichText.plain("Раз… Два три четыре"), limit=8).text == "Раз…"


def test_hard_cut_never_splits_an_emoji_sequence() -> None:
    family = "👨‍👩‍👧"
    rt = RichText.plain(family * 10)

    for limit in range(1, 40):
        cut, truncated = truncate(rt, limit)
        assert truncated
        assert len(cut.text) % len(family) == 0
        assert len(cut.text) <= limit


def test_hard_cut_keeps_flags_whole() -> None:
    rt = RichText.plain("🇷🇺" * 5)

    cut, _ = truncate(rt, 5)

    assert cut.text == "🇷🇺" * 2


def test_hard_cut_does_not_break_a_bare_url() -> None:
    url = "https://spassk-d.ru/" + "новости/" * 25
    text = f"Новость: {url}"
    rt = from_telegram(text, [{"type": "url", "offset": 9, "length": utf16_len(url)}])

    assert render_plain(rt, limit=101).text == "Новость…"
    assert render_telegram_html(rt, limit=101).text == "Новость…"


def test_same_kind_overlaps_merge_into_one_tag() -> None:
    rt = RichText(
        text="abcdef",
        spans=(
            Span(kind=SpanKind.BOLD, start=0, end=4),
            Span(kind=SpanKind.BOLD, start=2, end=6),
            Span(kind=SpanKind.ITALIC, start=1, end=3),
        ),
    )

    assert render_telegram_html(rt).text == "<b>a<i>bc</i>def</b>"


def test_html_limit_counts_visible_utf16_units() -> None:
    text = "😀" * 10 + " конец."
    rt = from_telegram(text, [{"type": "bold", "offset": 0, "length": 20}])

    rendered = render_telegram_html(rt, limit=20)

    assert rendered.truncated
    parsed = parse_html(rendered.text)
    assert utf16_len(parsed.text) <= 20
    assert parsed.text == "😀" * 9 + "…"


def test_plain_limit_counts_link_expansions() -> None:
    url = "https://spassk-d.ru/very/long/path"
    text = "Одно. Два три четыре. Пять."
    rt = RichText(text=text, spans=(Span(kind=SpanKind.LINK, start=6, end=20, url=url),))
    full = render_plain(rt).text
    assert full == f"Одно. Два три четыре ({url}). Пять."

    rendered = render_plain(rt, limit=len(full) - 1)

    assert rendered.truncated
    assert len(rendered.text) <= len(full) - 1
    assert rendered.text == f"Одно. Два три четыре ({url}). …"


def test_tiny_limits_still_fit() -> None:
    rt = RichText.plain("Длинный текст без конца")
    for limit in range(4):
        assert len(render_plain(rt, limit=limit, more_url="https://t.me/x/1").text) <= limit
        assert utf16_len(render_telegram_html(rt, limit=limit).text) <= limit


# --- properties -------------------------------------------------------------------------------


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=400)
@given(telegram_messages())
def test_from_telegram_never_raises_and_spans_are_sound(message: tuple[str, list[Any]]) -> None:
    text, entities = message

    rt = from_telegram(text, entities)

    assert rt.text == text
    for span in rt.spans:
        assert 0 <= span.start < span.end <= len(rt.text)
    assert len(set(rt.spans)) == len(rt.spans)
    assert "".join(ch for ch in rt.text if "\ud800" <= ch <= "\udfff") == ""


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(rich_texts())
def test_entities_round_trip(rt: RichText) -> None:
    entities = to_telegram_entities(rt)

    assert from_telegram(rt.text, entities) == rt
    assert to_telegram_entities(from_telegram(rt.text, entities)) == entities
    for item in entities:
        MessageEntity.model_validate(item)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=500)
@given(
    rich_texts(),
    st.one_of(st.none(), st.integers(0, 120)),
    st.sampled_from([None, "https://t.me/spassk/1"]),
)
def test_rendering_never_raises_and_fits(
    rt: RichText, limit: int | None, more_url: str | None
) -> None:
    plain = render_plain(rt, limit=limit, more_url=more_url)
    markup = render_telegram_html(rt, limit=limit, more_url=more_url)

    encodes_strictly(plain.text)
    encodes_strictly(markup.text)
    visible = parse_html(markup.text).text
    if limit is not None:
        assert len(plain.text) <= limit
        assert utf16_len(visible) <= limit
    if not plain.truncated:
        assert plain == render_plain(rt)
    if not markup.truncated:
        assert markup == render_telegram_html(rt)
        assert visible == rt.text


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(st.text(max_size=60), st.integers(0, 80))
def test_arbitrary_unicode_never_breaks_rendering(text: str, limit: int) -> None:
    rt = from_telegram(text, [{"type": "bold", "offset": 1, "length": 5}])

    encodes_strictly(render_plain(rt, limit=limit).text)
    encodes_strictly(parse_html(render_telegram_html(rt, limit=limit).text).text)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(rich_texts())
def test_plain_text_loses_nothing_it_can_carry(rt: RichText) -> None:
    plain = render_plain(rt).text

    assert is_subsequence(rt.text, plain)
    for span in rt.spans:
        if span.url and not span.url.startswith("tg://"):
            visible = rt.text[span.start : span.end]
            assert span.url in plain or visible.lower().rstrip("/").endswith(
                span.url.lower().split("://")[-1].removeprefix("www.").rstrip("/")
            )


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(rich_texts())
def test_html_visible_text_equals_plain_text_without_links(rt: RichText) -> None:
    rt = RichText(
        text=rt.text,
        spans=tuple(s for s in rt.spans if s.kind not in (SpanKind.LINK, SpanKind.MENTION)),
    )

    parsed = parse_html(render_telegram_html(rt).text)

    assert parsed.text == render_plain(rt).text == rt.text


@st.composite
def formatted_texts(draw: st.DrawFn) -> RichText:
    """Formatting and quotes only: Telegram can show every such combination as it is."""
    text = "".join(draw(token_texts()))
    kinds = [SpanKind.BOLD, SpanKind.ITALIC, SpanKind.UNDERLINE, SpanKind.STRIKE, SpanKind.SPOILER]
    spans = []
    for _ in range(draw(st.integers(0, 6))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, len(text)))
        if start < end:
            spans.append(Span(kind=draw(st.sampled_from(kinds)), start=start, end=end))
    quote_edges = sorted(draw(st.lists(st.integers(0, len(text)), max_size=4, unique=True)))
    for start, end in zip(quote_edges[::2], quote_edges[1::2], strict=False):
        spans.append(Span(kind=SpanKind.QUOTE, start=start, end=end))
    return RichText(text=text, spans=tuple(spans))


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(formatted_texts())
def test_html_keeps_every_formatted_character(rt: RichText) -> None:
    parsed = parse_html(render_telegram_html(rt).text)

    assert parsed.text == rt.text
    for tag, kind in TAG_KIND.items():
        assert parsed.covered(tag) == covered(rt, kind), tag
    quotes = sorted((start, end) for tag, start, end, _ in parsed.elements if tag == "blockquote")
    assert quotes == sorted((s.start, s.end) for s in rt.spans if s.kind is SpanKind.QUOTE)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=400)
@given(st.data())
def test_truncation_cuts_between_whole_characters(data: st.DataObject) -> None:
    tokens = data.draw(token_texts(60))
    text = "".join(tokens)
    rt = data.draw(st.just(from_telegram(text, data.draw(st.lists(entity(utf16_len(text)))))))
    limit = data.draw(st.integers(0, len(text) + 2))
    measure = data.draw(st.sampled_from([len, utf16_len]))
    reserve = data.draw(st.integers(0, 5))
    boundaries = {0}
    position = 0
    for token in tokens:
        position += len(token)
        boundaries.add(position)

    cut, truncated = truncate(rt, limit, measure=measure, reserve=reserve)

    assert truncated == (measure(text) + reserve > limit)
    assert text.startswith(cut.text)
    if truncated:
        assert measure(cut.text) + reserve <= limit or not cut.text
        assert len(cut.text) in boundaries
        assert cut.text == cut.text.rstrip()
    for span in cut.spans:
        assert span.end <= len(cut.text)
        assert any(
            s.kind is span.kind
            and s.start == span.start
            and s.end >= span.end
            and s.url == span.url
            for s in rt.spans
        )


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200)
@given(rich_texts(), st.integers(1, 60))
def test_truncated_renderings_are_prefixes_plus_a_tail(rt: RichText, limit: int) -> None:
    more_url = "https://t.me/spassk/7"
    read_more = "\n\n" + texts.READ_MORE.format(url=more_url)

    plain = render_plain(rt, limit=limit, more_url=more_url)
    visible = parse_html(render_telegram_html(rt, limit=limit, more_url=more_url).text).text

    pairs = [(visible, rt.text)]
    # A hard cut inside a link's text keeps its " (url)": then plain is no prefix, by design.
    if not any(span.kind is SpanKind.LINK for span in rt.spans):
        pairs.append((plain.text, render_plain(rt).text))
    for rendered, full in pairs:
        if rendered == full:
            continue
        # When not even one character fits beside it, the link stands alone.
        for tail in (read_more, read_more.lstrip(), texts.ELLIPSIS, f" {texts.ELLIPSIS}", ""):
            if rendered.endswith(tail) and full.startswith(rendered.removesuffix(tail)):
                break
        else:
            pytest.fail(f"{rendered!r} is not a cut of {full!r}")
