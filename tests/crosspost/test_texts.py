"""The copy check: every template rendered with every platform (and every count) reads right.

Each module-level string of crosspost.texts (and each string inside its dicts and tuples) is
formatted with each platform's case forms and sample values, then checked against the case a
preposition governs, the verb agreement rule (a platform name is never a subject) and, for texts
a press officer reads, no English and no console command.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from crosspost import texts
from crosspost.errors import TECHNICAL, Reason
from crosspost.models import Platform

PLATFORMS = [str(p) for p in Platform]
COUNTS = (1, 2, 5, 11, 21)

# The case each preposition governs (only those that can stand before a platform name).
GOVERNS = {
    "в": "pre",
    "во": "pre",
    "на": "pre",
    "о": "pre",
    "об": "pre",
    "с": "ins",
    "со": "ins",
    "для": "gen",
    "от": "gen",
    "у": "gen",
    "из": "gen",
    "без": "gen",
    "до": "gen",
    "нет": "gen",
    "сервер": "gen",
    "настройках": "gen",
    "к": "dat",
    "по": "dat",
}
CASES = ("nom", "gen", "dat", "acc", "ins", "pre")
# A finite verb form right after a platform name makes the name a subject.
VERB = re.compile(r"(?:не\s+|временно\s+)*\w+(?:ет|ёт|ит|ут|ют|ат|ят|ал|ял|ил|ел|ла|ло|ли)\b")
# Latin words a press officer may read: platform names, file kinds, links.
LATIN_ALLOWED = {"Telegram", "MAX", "GIF", "PDF", "ID", "UTC"}
URL = re.compile(r"(?:https?://|t\.me/)\S+|/\w+")
# Texts meant for the console or the IT contact (commands and English allowed).
CONSOLE_ONLY = {*texts.IT_TEXTS, "IT_TEXTS"}


def templates() -> Iterator[tuple[str, str]]:
    for name, value in vars(texts).items():
        if not name.isupper():
            continue
        if isinstance(value, str):
            yield name, value
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(item, str):
                    yield f"{name}[{key}]", item
        elif isinstance(value, tuple | frozenset):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    yield f"{name}[{i}]", item


TEMPLATES = sorted(templates())


def fields(template: str) -> list[str]:
    return [f for _, f, _, _ in string.Formatter().parse(template) if f]


class Sample(dict[str, Any]):
    """Sample values for whatever a template asks; counts come from `count`."""

    def __init__(self, platform: str, count: int) -> None:
        super().__init__(texts.platform_fields(platform))
        self.count = count
        self["in_platforms"] = texts.in_platforms([platform, "ok"])

    def __missing__(self, key: str) -> str:
        if key in {"count", "shifted", "cancelled", "grace", "id", "version", "total"}:
            return str(self.count)
        return "Ж"


def render(template: str, platform: str, count: int = 5) -> str:
    return template.format_map(Sample(platform, count))


def wrong_case_phrases(platform: str) -> list[str]:
    forms = texts.platform_name(platform)
    wrong = []
    for prep, case in GOVERNS.items():
        right = getattr(forms, case)
        for other in CASES:
            form = getattr(forms, other)
            if form != right:
                wrong.append(f"{prep} {form}")
    # «во» before «В» + consonant and only there.
    if forms.in_ == "во":
        wrong.append(f"в {forms.pre}")
    else:
        wrong.append(f"во {forms.pre}")
    return wrong


def test_every_template_formats_with_every_platform() -> None:
    assert len(TEMPLATES) > 200
    for name, template in TEMPLATES:
        for platform in PLATFORMS:
            try:
                render(template, platform)
            except (KeyError, ValueError, IndexError) as exc:
                pytest.fail(f"{name} does not format: {exc!r}")
    assert set(texts.REASONS) == {str(r) for r in Reason}


def case_problems(text: str, platform: str) -> list[str]:
    problems = []
    low = text.lower()
    for phrase in wrong_case_phrases(platform):
        if re.search(rf"(?<!\w){re.escape(phrase.lower())}(?!\w)", low):
            problems.append(f"«{phrase}»")
    forms = texts.platform_name(platform)
    # Only a declinable name tells its case apart; a verb after it means it is a subject.
    if forms.gen != forms.nom:
        for match in re.finditer(rf"(?<!\w){re.escape(forms.nom)}\s+", text):
            if VERB.match(text, match.end()):
                problems.append(f"{forms.nom} as a subject")
    return problems


def test_the_check_catches_the_mistakes_of_the_issue() -> None:
    old = {
        "сессия Одноклассники истекла": "ok",
        "нет связи с Одноклассники — повторим автоматически": "ok",
        "Одноклассники временно не отвечает": "ok",
        "Одноклассники просит подождать": "ok",
        "опубликовано в ВКонтакте": "vk",
        "токен для Одноклассники отозван": "ok",
    }
    for text, platform in old.items():
        assert case_problems(text, platform), text
    assert not case_problems("нет связи с Одноклассниками; во ВКонтакте всё есть", "ok")
    assert not case_problems("нет связи с Одноклассниками; во ВКонтакте всё есть", "vk")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_platform_names_in_the_case_the_sentence_needs(platform: str) -> None:
    problems = []
    for name, template in TEMPLATES:
        text = render(template, platform)
        problems.extend(f"{name}: {p} in {text!r}" for p in case_problems(text, platform))
    assert not problems, "\n".join(problems)


def test_known_phrases_from_the_issue() -> None:
    ok = texts.platform_fields("ok")
    vk = texts.platform_fields("vk")
    assert texts.REASONS["network"].format(**ok).startswith("нет связи с Одноклассниками")
    assert "сервер Одноклассников" in texts.REASONS["platform_down"].format(**ok)
    assert "в Одноклассниках" in texts.REASONS["session_expired"].format(**ok)
    assert "во ВКонтакте" in texts.REASONS["no_rights"].format(**vk)
    assert texts.in_platforms(["vk", "ok", "max"]) == "во ВКонтакте, в Одноклассниках и в MAX"
    assert texts.LINK_TO_FIRST.format(**ok) == "Первоисточник в Одноклассниках:"


def test_one_name_per_platform_buttons_included() -> None:
    assert texts.PLATFORM_BUTTONS == texts.PLATFORM_NAMES == texts.STATS_PLATFORM_NAMES
    spellings = {"VK", "ВК", "OK", "ОК", "Телеграм", "Телеграмм", "Макс"}
    for name, template in TEMPLATES:
        if name.split("[")[0] in CONSOLE_ONLY:
            continue
        words = set(re.findall(r"[\wА-Яа-яЁё]+", render(template, "telegram")))
        assert not words & spellings, f"{name}: {words & spellings}"


def test_press_officer_texts_have_no_english_and_no_console_commands() -> None:
    problems = []
    for name, template in TEMPLATES:
        if name.split("[")[0] in CONSOLE_ONLY:
            continue
        for platform in PLATFORMS:
            text = render(template, platform)
            if "crosspost" in text.lower() or "--" in URL.sub("", text):
                problems.append(f"{name}: console command in {text!r}")
            latin = set(re.findall(r"[A-Za-z][A-Za-z_]*", URL.sub("", text))) - LATIN_ALLOWED
            if latin:
                problems.append(f"{name}: English {sorted(latin)} in {text!r}")
    assert not problems, "\n".join(sorted(set(problems)))


def test_one_voice_no_first_person() -> None:
    first_person = re.compile(
        r"(?<!\w)(я|мы|нам|нас|наш\w*|не понял|не нашёл|удаляю|отправляем|проверяем|"
        r"повторим|опубликуем|жду)(?!\w)",
        re.IGNORECASE,
    )
    for name, template in TEMPLATES:
        text = render(template, "vk")
        assert not first_person.search(text), f"{name}: first person in {text!r}"


@pytest.mark.parametrize("count", COUNTS)
def test_counts_never_stand_before_a_noun_they_must_agree_with(count: int) -> None:
    """A count is written «Файлов: 5» (or with `plural`), so 1, 2, 5, 11, 21 all read right."""
    invariant = {"мин", "МБ", "%", "человек"}  # abbreviations; «человек» comes from `plural`
    for name, template in TEMPLATES:
        if not {"count", "shifted", "cancelled", "grace"} & set(fields(template)):
            continue
        text = render(template, "ok", count)
        for match in re.finditer(rf"(?<![\d№]){count}(?!\d)\s+([А-Яа-яЁё%]+)", text):
            assert match.group(1) in invariant, f"{name}: «{match.group(0)}» in {text!r}"


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "пост"),
        (2, "поста"),
        (5, "постов"),
        (11, "постов"),
        (21, "пост"),
        (22, "поста"),
        (111, "постов"),
        (0, "постов"),
    ],
)
def test_plural(count: int, expected: str) -> None:
    assert texts.plural(count, ("пост", "поста", "постов")) == expected


def test_legend_symbols_are_distinct() -> None:
    marks = [
        texts.MARK_PUBLISHED,
        texts.MARK_SCHEDULED,
        texts.MARK_IN_PROGRESS,
        texts.MARK_FAILED,
        texts.MARK_PAUSED,
        texts.MARK_HELD,
        texts.MARK_CANCELLED,
        texts.MARK_DELETED,
    ]
    assert len(set(marks)) == len(marks)
    assert all(m in texts.LEGEND for m in marks)
    assert texts.LEGEND in texts.BOT_HELP
    # A choice button is not a «published» mark.
    assert texts.MARK_PUBLISHED not in texts.BOT_BUTTON_CHECKED


def test_technical_reasons_have_it_detail() -> None:
    for reason in TECHNICAL:
        assert str(reason) in texts.IT_WHAT
        assert str(reason) in texts.IT_ACTIONS
