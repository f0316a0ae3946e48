"""Every Russian string a person reads: bot replies, staff-chat reports, alerts, CLI messages.

Adapters never build such text; they raise errors with a Reason or return Notices, worded here.

Voice: impersonal («Публикация запланирована», «Не удалось…»), requests to the reader in the polite
imperative («сократите текст»); never «я»/«мы». Press officers never read a console command or an
English error: those go only into `IT_*` texts (see `IT_TEXTS`), which reach the IT contact.

Platform names have one spelling each (`PLATFORMS`) and are put into templates in the case the
sentence needs, through these fields (`platform_fields`):

    {platform}       nominative, only in labels («Администрация · Одноклассники»)
    {platform_gen}   genitive («для Одноклассников», «от Одноклассников»)
    {platform_dat}   dative («к Одноклассникам»)
    {platform_ins}   instrumental («с Одноклассниками»)
    {in_platform}    «в»/«во» with the prepositional («в Одноклассниках», «во ВКонтакте»)
    {with_platform}  «с» with the instrumental («с Одноклассниками»)

A platform name is never the subject of a verb (Одноклассники is plural, the others are not):
«сервер Одноклассников не отвечает», not «Одноклассники не отвечает».
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Appended to a text cut to a platform's limit, when the full original has a public link.
READ_MORE = "Читать полностью: {url}"
ELLIPSIS = "…"


# -- platform names and their case forms -------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PlatformName:
    nom: str
    gen: str
    dat: str
    acc: str
    ins: str
    pre: str
    # The preposition «в» before the prepositional: «во» before «В» + consonant.
    in_: str

    def fields(self) -> dict[str, str]:
        return {
            "platform": self.nom,
            "platform_gen": self.gen,
            "platform_dat": self.dat,
            "platform_acc": self.acc,
            "platform_ins": self.ins,
            "platform_pre": self.pre,
            "in_platform": f"{self.in_} {self.pre}",
            "with_platform": f"с {self.ins}",
        }


def _indeclinable(name: str, in_: str = "в") -> PlatformName:
    return PlatformName(nom=name, gen=name, dat=name, acc=name, ins=name, pre=name, in_=in_)


PLATFORMS: dict[str, PlatformName] = {
    "telegram": _indeclinable("Telegram"),
    "vk": _indeclinable("ВКонтакте", in_="во"),
    "ok": PlatformName(
        nom="Одноклассники",
        gen="Одноклассников",
        dat="Одноклассникам",
        acc="Одноклассники",
        ins="Одноклассниками",
        pre="Одноклассниках",
        in_="в",
    ),
    "max": _indeclinable("MAX"),
}
# The nominative, for labels and buttons: one name per platform everywhere.
PLATFORM_NAMES = {key: name.nom for key, name in PLATFORMS.items()}
PLATFORM_BUTTONS = PLATFORM_NAMES


def platform_name(platform: str) -> PlatformName:
    """The case forms of a platform (an unknown key stands for itself in every case)."""
    return PLATFORMS.get(str(platform)) or _indeclinable(str(platform))


def platform_fields(platform: str) -> dict[str, str]:
    """The format fields of one platform's name (see the module docstring)."""
    return platform_name(platform).fields()


def join_words(words: Iterable[str]) -> str:
    """«А», «А и Б», «А, Б и В»."""
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " и " + items[-1]


def in_platforms(platforms: Iterable[str]) -> str:
    """«во ВКонтакте и в Одноклассниках»."""
    return join_words(platform_fields(p)["in_platform"] for p in dict.fromkeys(platforms))


def plural(count: int, forms: tuple[str, str, str]) -> str:
    """The form for `count`: forms are for 1, 2–4 and 5+ (1 пост, 3 поста, 11 постов)."""
    n = abs(count) % 100
    if 11 <= n <= 14:
        return forms[2]
    if n % 10 == 1:
        return forms[0]
    if 2 <= n % 10 <= 4:
        return forms[1]
    return forms[2]


# -- symbols: one meaning each (the legend is in BOT_HELP) -------------------------------------

MARK_PUBLISHED = "✅"
MARK_SCHEDULED = "🕒"
MARK_IN_PROGRESS = "⏳"  # being sent, retried or checked
MARK_FAILED = "❌"
MARK_PAUSED = "⏸"
MARK_HELD = "✋"  # waits for a person's decision or manual action
MARK_CANCELLED = "🚫"
MARK_DELETED = "🗑"
MARK_EDITED = "✏️"
MARK_WARNING = "⚠️"
MARK_INFO = "ℹ️"
LEGEND = (
    f"{MARK_PUBLISHED} опубликовано · {MARK_SCHEDULED} запланировано · "
    f"{MARK_IN_PROGRESS} публикуется · {MARK_FAILED} не удалось · "
    f"{MARK_PAUSED} аккаунт приостановлен · {MARK_HELD} нужно решение сотрудника · "
    f"{MARK_CANCELLED} отменено · {MARK_DELETED} удалено"
)

# Telegram content that cannot be published on other platforms (Message fields).
CONTENT_KINDS = {
    "poll": "опрос",
    "sticker": "стикер",
    "voice": "голосовое сообщение",
    "video_note": "видеосообщение («кружок»)",
    "location": "геопозиция",
    "venue": "место на карте",
    "contact": "контакт",
    "dice": "анимированный эмодзи (кубик)",
    "paid_media": "платный контент",
    "audio": "аудиофайл",
    "game": "игра",
    "story": "история",
    "invoice": "счёт на оплату",
    "checklist": "чек-лист",
    "giveaway": "розыгрыш",
}

# -- failure reasons: what happened and what a press officer can do ----------------------------

# Keys are crosspost.errors.Reason values; formatted with `platform_fields`. Reasons in
# crosspost.errors.TECHNICAL also reach the IT contact (IT_FAILURE), and staff read one of the
# REASON_IT_* endings after them.
REASONS = {
    "network": "нет связи {with_platform} — повтор автоматически",
    "rate_limited": "слишком много запросов к {platform_dat} — повтор автоматически",
    "platform_down": "сервер {platform_gen} временно не отвечает — повтор автоматически",
    "token_invalid": "доступ {in_platform} отозван или недействителен",
    "session_expired": "срок доступа {in_platform} истёк",
    "no_rights": "у сервиса нет прав публиковать {in_platform}",
    "wrong_token_type": "{in_platform} для этого действия нужен другой ключ доступа",
    "captcha": "{in_platform} требуется подтверждение входа (капча)",
    "too_long": "текст слишком длинный для {platform_gen} — сократите его и опубликуйте снова",
    "media_rejected": "файл не принят {in_platform} — проверьте формат и опубликуйте снова",
    "file_too_big": "файл слишком большой для {platform_gen} — уменьшите его и опубликуйте снова",
    "links_forbidden": "ссылка в посте не пропущена {in_platform} — уберите её и опубликуйте "
    "снова",
    "post_limit": "исчерпан дневной лимит публикаций {in_platform} — опубликуйте снова завтра",
    "blocked": "аккаунт {in_platform} заблокирован",
    "bad_request": "публикация отклонена {in_platform} — проверьте текст и файлы",
    "not_found": "пост или сообщество {in_platform} не найдены — возможно, пост удалён вручную",
    "unsupported": "{in_platform} такое действие недоступно",
    "config": "ошибка в настройках для {platform_gen}",
    "outcome_unknown": "нет ответа от {platform_gen} — идёт проверка, дошёл ли пост",
    "unknown": "непредвиденная ошибка {in_platform}",
}
REASON_FALLBACK = REASONS["unknown"]
# After a technical reason: where the detail went.
REASON_IT_INFORMED = "ИТ-специалисту отправлены подробности"
REASON_IT_IN_CHAT = "подробности для ИТ-специалиста — отдельным сообщением"
REASON_WITH_ENDING = "{reason} — {ending}"

NOTICES = {
    "text_truncated": "текст сокращён до лимита площадки, добавлена ссылка на оригинал",
    "media_as_link": "файл не удалось приложить — вместо него ссылка на оригинал",
    "vk_photos_need_user_token": "фото не загружены: для фото во ВКонтакте нужен ключ доступа "
    "пользователя (его настраивает ИТ-специалист)",
    "media_split": "файлов больше, чем помещается в один пост — остальные во втором посте",
    "media_dropped": "часть файлов площадка не принимает — они пропущены",
    "caption_split": "длинная подпись: сначала файлы, затем текст отдельным сообщением",
    "edit_unsupported": "площадка не даёт изменять посты",
}

# -- the report of a publication in the staff chat (staffbot/reports.py) -----------------------

REPORT_TITLE = "📰 Публикация №{id}"
REPORT_SOURCE_CHANNEL = "из канала: {url}"
REPORT_SOURCE_BOT = "через бота, автор: {author}"
REPORT_SOURCE_CLI = "добавлена на сервере"
REPORT_SOURCE_SCHEDULE = "по расписанию"
REPORT_SOURCE_OTHER = "источник: {source}"
# The author of a bot publication whose name is not known (an older publication).
REPORT_AUTHOR_UNKNOWN = "сотрудник пресс-службы"
REPORT_VERSION = "версия {version}"
REPORT_DELETED = MARK_DELETED + " Удалена {at}"
REPORT_LINE = "{mark} {account} · {platform}: {detail}"
REPORT_PUBLISHED = MARK_PUBLISHED
REPORT_PENDING = MARK_IN_PROGRESS
REPORT_SCHEDULED = MARK_SCHEDULED
REPORT_RETRYING = MARK_IN_PROGRESS
REPORT_FAILED = MARK_FAILED
REPORT_PAUSED = MARK_PAUSED
REPORT_UNCERTAIN = MARK_IN_PROGRESS
REPORT_HELD = MARK_HELD
REPORT_CANCELLED = MARK_CANCELLED
REPORT_DETAIL_PENDING = "публикуется"
REPORT_DETAIL_SCHEDULED = "в {at}"
REPORT_DETAIL_RETRY = "повтор в {at}: {reason}"
REPORT_DETAIL_PUBLISHED_NO_LINK = "опубликовано"
REPORT_DETAIL_UNCERTAIN = "нет ответа — идёт проверка, дошёл ли пост"
REPORT_DETAIL_HELD = (
    "неизвестно, вышел ли пост. Проверьте вручную: поста нет — «Повторить», пост есть — «Отменить»"
)
REPORT_DETAIL_CANCELLED = "отменено"
# A paused account: its state is said once, in the account's line, while it lasts.
REPORT_DETAIL_PAUSED = "ждёт возобновления аккаунта"
REPORT_BUTTON_TARGET = "{account} · {platform}"
REPORT_BUTTON_RETRY = "Повторить: {target}"
REPORT_BUTTON_CANCEL = "Отменить"
REPORT_RETRY_ACCEPTED = "Повторная отправка поставлена в очередь."
REPORT_CANCEL_ACCEPTED = "Отменено."
REPORT_NOTICE = MARK_INFO + " {account} · {platform}: {notice}"
REPORT_NOTES_TITLE = "Важно:"
REPORT_NOTE_FILE_TOO_BIG = (
    MARK_WARNING + " Файл «{name}» больше 20 МБ: бот не может его скачать. Текст опубликован со "
    "ссылкой на оригинал; при необходимости приложите файл вручную."
)
REPORT_NOTE_DROPPED_TEXT_ONLY = (
    MARK_WARNING + " {kinds} не переносится на другие площадки: {in_platforms} опубликован "
    "только текст."
)
REPORT_NOTE_EDIT_DONE = MARK_EDITED + " {account} · {platform}: изменено (версия {version})"
REPORT_NOTE_EDIT_UNSUPPORTED = (
    MARK_HELD + " {account} · {platform}: изменить автоматически нельзя — исправьте вручную: {url}"
)
REPORT_NOTE_EDIT_FAILED = MARK_FAILED + " {account} · {platform}: изменить не удалось — {reason}"
REPORT_NOTE_DELETE_DONE = MARK_DELETED + " {account} · {platform}: удалено"
REPORT_NOTE_DELETE_UNSUPPORTED = (
    MARK_HELD + " {account} · {platform}: удалить автоматически нельзя — удалите вручную: {url}"
)
REPORT_NOTE_DELETE_FAILED = MARK_FAILED + " {account} · {platform}: удалить не удалось — {reason}"
REPORT_HINT_DELETE = "Чтобы удалить все копии, ответьте на это сообщение словом «удалить»."
REPORT_NO_LINK = "(ссылки нет)"

# A channel post nothing of which can travel: there is no publication to report on.
CHANNEL_NOTHING_TO_MIRROR = (
    MARK_WARNING + " Пост в канале «{channel}» ({url}) — {kinds}: это не переносится на другие "
    "площадки, {in_platforms} ничего не опубликовано."
)

# -- the staff bot dialog -----------------------------------------------------------------------

BOT_NOT_STAFF = (
    "Здравствуйте! Этот бот публикует новости администрации и доступен только сотрудникам "
    "пресс-службы. Если вы сотрудник, попросите администратора добавить ваш номер "
    "пользователя Telegram: {user_id}."
)
BOT_HELP = (
    "Как опубликовать пост:\n"
    "1. Пришлите сюда текст, фото или видео (или перешлите пост из канала).\n"
    "2. Выберите аккаунты и площадки кнопками под предпросмотром.\n"
    "3. Нажмите «Опубликовать сейчас» или «Запланировать» и напишите время.\n\n"
    "Время можно писать так: «15.12 10:00», «15 декабря в 10», «завтра в 9», "
    "«через 2 часа». Время местное ({zone}).\n\n"
    "Команды:\n"
    "/queue — что запланировано (отменить, перенести)\n"
    "/status — состояние аккаунтов\n"
    "/delete <ссылка на пост> — удалить копии поста на всех площадках\n"
    "/help — эта справка\n\n"
    "Посты из каналов администрации копируются автоматически. Отчёты приходят в чат "
    "пресс-службы; чтобы удалить копии, ответьте на отчёт словом «удалить».\n\n"
    "Значки в отчётах:\n" + LEGEND
)
BOT_PREVIEW_EMPTY_TEXT = "(без текста)"
BOT_PANEL = (
    "Куда публиковать?\nАккаунты: {accounts}\nПлощадки: {platforms}\n\n"
    "Выберите кнопками и нажмите «Опубликовать сейчас» или «Запланировать»."
)
BOT_PANEL_NOTHING_CHOSEN = "не выбрано"
BOT_BUTTON_ALL_ACCOUNTS = "все"
# Choice buttons: a check box, not the «published» mark.
BOT_BUTTON_CHECKED = "☑️ {label}"
BOT_BUTTON_UNCHECKED = "▫️ {label}"
BOT_BUTTON_PUBLISH_NOW = "Опубликовать сейчас"
BOT_BUTTON_SCHEDULE = "Запланировать"
BOT_BUTTON_CANCEL = "Отмена"
BOT_BUTTON_CONFIRM_TIME = "Подтвердить"
BOT_BUTTON_OTHER_TIME = "Другое время"
BOT_NEED_TARGETS = "Выберите хотя бы один аккаунт и одну площадку."
BOT_TARGETS_INVALID = "Такого сочетания аккаунтов и площадок нет: {detail}"
BOT_SUBMITTED_NOW = "Принято: публикация №{id} отправляется. Отчёт будет в чате пресс-службы."
BOT_CANCELLED = "Черновик отменён, ничего не опубликовано."
BOT_NOT_YOURS = "Это черновик другого сотрудника."
BOT_UNSUPPORTED_CONTENT = (
    "Такое сообщение нельзя опубликовать: {kinds} не переносится на другие площадки. "
    "Пришлите текст, фото, видео, GIF или документ."
)
BOT_UNSUPPORTED_WITH_TEXT = (
    MARK_WARNING + " {kinds} не переносится на другие площадки: будет опубликован только текст."
)
BOT_FILE_TOO_BIG = (
    MARK_WARNING + " Файл «{name}» больше 20 МБ: бот не может его скачать. Будет опубликован "
    "текст со ссылкой на оригинал, если она есть; иначе приложите файл поменьше."
)
BOT_QUEUE_RESCHEDULED = "Публикация №{id} перенесена на {at}."
BOT_QUEUE_NOTHING_TO_MOVE = "Публикация №{id} уже отправлена или отменена — переносить нечего."
BOT_DELETE_USAGE = "Напишите /delete и ссылку на пост, например: /delete https://t.me/channel/123"
BOT_DELETE_NOT_FOUND = "Публикация по этой ссылке не найдена."
BOT_DELETE_CONFIRM = "Удалить публикацию №{id} на всех площадках ({targets})? Это нельзя отменить."
BOT_BUTTON_DELETE_CONFIRM = "Да, удалить"
BOT_BUTTON_DELETE_KEEP = "Нет, оставить"
BOT_DELETE_KEPT = "Ничего не удалено."
BOT_DELETE_DONE = "Публикация №{id} удаляется с площадок. Итог — в отчёте."
BOT_DELETE_ALREADY = "Публикация №{id} уже удалена."
# Words a reply to a report may say to delete the post.
DELETE_WORDS = frozenset({"удалить", "удали", "удаление"})


# -- alerts to the staff chat and notes to the IT contact --------------------------------------

ALERT_ACCOUNT_PAUSED = (
    MARK_PAUSED + " {account} · {platform}: публикации приостановлены.\nПричина: {reason}.\n"
    "Посты не пропадут: они отправятся, когда доступ восстановят."
)
ALERT_ACCOUNT_RESUMED = MARK_PUBLISHED + " {account} · {platform}: публикации возобновлены."
ALERT_OK_TOKEN_LAPSING = (
    MARK_WARNING + " {account} · Одноклассники: доступ перестанет действовать около {at} — "
    "{ending}."
)

# For the IT contact (telegram.it_contacts / telegram.it_chat_id, else the staff chat): the
# technical detail and the command to run. English error classes and commands are fine here;
# tokens never.
IT_FAILURE = (
    "🛠 Для ИТ-специалиста: {account} · {platform}\n"
    "{what}\n"
    "Ошибка: {error}\n"
    "Что сделать: {todo}\n"
    "Затем: crosspost check -c {config} (проверит доступ и возобновит публикации)"
)
IT_WHAT = {
    "token_invalid": "Ключ доступа (токен) {platform_gen} отозван или неверен; публикации "
    "аккаунта приостановлены.",
    "session_expired": "Сессия {platform_gen} истекла; публикации аккаунта приостановлены.",
    "no_rights": "У бота или токена нет прав на публикацию {in_platform}.",
    "wrong_token_type": "Для действия {in_platform} нужен токен другого типа.",
    "captcha": "{in_platform} требуется капча: нужен ручной вход в аккаунт.",
    "config": "Ошибка в настройках {platform_gen} в конфигурации.",
    "blocked": "Аккаунт {in_platform} заблокирован площадкой.",
    "unknown": "Непредвиденная ошибка {in_platform}.",
}
IT_ACTIONS = {
    "token_invalid": "выпустите новый токен (как — в README и docs/), пропишите его в "
    "переменной окружения из конфигурации и перезапустите сервис",
    "session_expired": "получите новый токен (docs/ok.md) и перезапустите сервис",
    "no_rights": "выдайте боту или владельцу токена права администратора сообщества/канала",
    "wrong_token_type": "проверьте, какой токен указан для аккаунта в конфигурации",
    "captcha": "войдите в аккаунт в браузере, пройдите проверку",
    "config": "исправьте конфигурацию",
    "blocked": "обратитесь в поддержку площадки",
    "unknown": "посмотрите журнал сервиса (journalctl -u crosspost) по delivery={delivery}",
}
IT_OK_TOKEN_LAPSING = (
    "🛠 Для ИТ-специалиста: {account} · Одноклассники\n"
    "Токен OK перестанет действовать около {at}, если им не пользоваться.\n"
    "Что сделать: crosspost check -c {config} (продлевает токен) или новый токен (docs/ok.md)."
)
# Texts only the IT contact or the console reads (commands and English allowed).
IT_TEXTS = frozenset({"IT_FAILURE", "IT_WHAT", "IT_ACTIONS", "IT_OK_TOKEN_LAPSING"})


# -- statistics (issue 10) ---------------------------------------------------------------------

# Platform names in reports («Telegram — 7855, ВКонтакте — 4236»): the one spelling.
STATS_PLATFORM_NAMES = PLATFORM_NAMES
STATS_MONTHS_GENITIVE = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
STATS_MONTHS = (
    "январь",
    "февраль",
    "март",
    "апрель",
    "май",
    "июнь",
    "июль",
    "август",
    "сентябрь",
    "октябрь",
    "ноябрь",
    "декабрь",
)
STATS_DATE = "{day} {month} {year} года"  # 1 января 2024 года
STATS_MONTH = "{month} {year}"  # январь 2024
# Plural forms for 1, 2–4 and 5+ (21 человек, 22 человека, 25 человек).
STATS_PEOPLE = ("человек", "человека", "человек")
STATS_NO_DATA = "нет данных"
STATS_OWNER = "Официальные аккаунты {owner}"

STATS_TEXT_AS_OF = "По состоянию на {date} количество подписчиков составляет:"
STATS_TEXT_OWNER = "{owner}: {counts} (всего — {total})."
STATS_TEXT_COUNT = "{platform} — {count}"
STATS_TEXT_TOTAL = "Всего подписчиков во всех официальных аккаунтах — {total}."
STATS_TEXT_GROWTH_INTRO = "По сравнению с {date} прирост подписчиков составил {growth}:"
STATS_TEXT_DECLINE_INTRO = (
    "По сравнению с {date} число подписчиков уменьшилось: изменение составило {growth}:"
)
STATS_TEXT_NO_GROWTH = (
    "Сравнить с {date} нельзя: на эту дату нет данных ни по одному аккаунту "
    "(прошлые данные может загрузить ИТ-специалист)."
)
STATS_TEXT_GROWTH = "{people} {people_word} ({percent})"  # +3927 человек (+100,0 %)
STATS_TEXT_GROWTH_OWNER = "{owner}: {changes}; всего — {total}."
STATS_TEXT_PARTIAL = "Итоги неполные: по части аккаунтов нет данных."
STATS_TEXT_DATES_EXACT = "Использованы данные на {on} и на {compare}."
STATS_TEXT_DATES_NEAREST = (
    "На запрошенную дату данных нет, использованы ближайшие более ранние: {items}."
)
STATS_TEXT_DATE_ITEM = "{owner_short} · {platform} — на {date}"
STATS_TEXT_POSTS_TITLE = "Публикации с {start} по {end}:"
STATS_TEXT_POSTS_OWNER = "{owner}: {counts}."
STATS_TEXT_POSTS_MONTH = "{month}: {counts}"
STATS_TEXT_REACH_TITLE = "Охват (просмотры публикаций за тот же период):"
STATS_TEXT_REACH_OWNER = "{owner}: {counts}."
STATS_REACH_TELEGRAM = (
    "Telegram — бот не может получить число просмотров, смотрите статистику канала "
    "в приложении Telegram"
)

# Tables (md, csv headers for people, the chart).
STATS_COL_ACCOUNT = "Аккаунт"
STATS_COL_PLATFORM = "Площадка"
STATS_COL_ON = "на {date}"
STATS_COL_GROWTH_PEOPLE = "Прирост, чел."
STATS_COL_GROWTH_PERCENT = "Прирост, %"
STATS_COL_TOTAL = "Всего"
STATS_ROW_OWNER_TOTAL = "всего"
STATS_ROW_TOTAL = "Всего по всем аккаунтам"
STATS_MD_TITLE = "Подписчики на {on} (сравнение с {compare})"
STATS_MD_POSTS_TITLE = "Публикации по месяцам"
STATS_MD_REACH_TITLE = "Просмотры публикаций по месяцам"
STATS_MD_REACH_TELEGRAM = (
    "Telegram: бот не может получить число просмотров — смотрите статистику канала в "
    "приложении Telegram."
)
STATS_CHART_TITLE = "Подписчики с {start} по {end}"
STATS_CHART_Y = "Подписчики"
STATS_CHART_X = "Дата"
STATS_CHART_NO_DATA = "Нет данных о подписчиках за этот период"

# The staff bot (/stats) and alerts.
STATS_BOT_TITLE = "📊 Подписчики на {on} (сравнение с {compare})"
STATS_BOT_OWNER_TOTAL = "Всего: {line}"
STATS_BOT_LINE = "{platform}: {value}"
STATS_BOT_VALUE = "{now} (было {before}; {growth})"
STATS_BOT_TOTAL = "Всего во всех аккаунтах: {line}"
STATS_BOT_CHART_CAPTION = "Подписчики с {start} по {end}"
STATS_BOT_CHART_FAILED = "Диаграмму построить не удалось — подробности в журнале сервиса."
ALERT_STATS_FAILED = (
    MARK_WARNING + " Статистика: не удалось узнать число подписчиков — {account} · {platform}: "
    "{reason}. Остальные числа сохранены; следующая попытка — при следующем сборе."
)


# -- events and recurring posts (issue 11) ----------------------------------------------------

# «в субботу, 5 декабря, в 10:00»: the weekday in the accusative after «в»/«во».
WEEKDAYS_ON = (
    "в понедельник",
    "во вторник",
    "в среду",
    "в четверг",
    "в пятницу",
    "в субботу",
    "в воскресенье",
)
MONTHS_GENITIVE = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)
EVENT_WHEN = "{weekday}, {day} {month}, в {time}"
EVENT_WHEN_WITH_YEAR = "{weekday}, {day} {month} {year} года, в {time}"
EVENT_TODAY = "сегодня, в {time}"
EVENT_TOMORROW = "завтра, {when}"

# The texts of an event's publications, built from its fields (planning/events.py fills them).
EVENT_ANNOUNCEMENT = "{title}\n\n{When}.\nМесто: {place}.\n\n{text}"
EVENT_REMINDER = "Напоминаем: «{title}» — {when}.\nМесто: {place}.\n\n{text}"
EVENT_MOVED = (
    "Перенос: «{title}» состоится {when} (ранее планировалось {old_when}).\nМесто: {place}."
)
EVENT_CANCELLED = "Отменено: «{title}» {when} не состоится."
# Put above the announcement edited in place after a cancel.
EVENT_CANCELLED_MARK = "ОТМЕНЕНО\n\n"
EVENT_TITLE_REMINDER = "Напоминание: {title}"
EVENT_TITLE_MOVED = "Перенос: {title}"
EVENT_TITLE_CANCELLED = "Отменено: {title}"

EVENT_SKIPPED_REMINDERS = "Не будут отправлены (их время уже прошло): {items}."
EVENT_CREATED = (
    "Мероприятие №{id} «{title}» — {when}, {place}.\nАнонс: {announce}. Напоминания: {reminders}."
)
EVENT_NO_REMINDERS = "нет"
EVENT_ANNOUNCE_NOW = "сейчас"
EVENT_MOVED_DONE = (
    "Мероприятие №{id} перенесено и состоится {when}. Сдвинуто напоминаний: {shifted}."
)
EVENT_CANCELLED_DONE = "Мероприятие №{id} отменено. Снято с очереди публикаций: {cancelled}."
EVENT_ALREADY_CANCELLED = "Мероприятие №{id} уже отменено."
EVENT_NOT_FOUND = "Мероприятия №{id} нет."
EVENT_IN_PAST = "Время мероприятия уже прошло: укажите будущее."
EVENT_LIST_EMPTY = "Предстоящих мероприятий нет."
EVENT_LIST_TITLE = "Предстоящие мероприятия:"
EVENT_LIST_LINE = "№{id} · {when} · {title} · {place}{cancelled}"
EVENT_LIST_CANCELLED = " · ОТМЕНЕНО"

# The bot dialog for an event.
BOT_EVENT_ASK_TITLE = (
    "Новое мероприятие. Как оно называется? (Например: «Субботник в городском парке».) "
    "Отменить: /cancel"
)
BOT_EVENT_ASK_WHEN = (
    "Когда оно начнётся? Местное время, например «05.12 10:00» или «5 декабря в 10:00»."
)
BOT_EVENT_ASK_PLACE = "Где? (Например: «городской парк, центральный вход».)"
BOT_EVENT_ASK_TEXT = "Текст анонса: что будет, кого приглашаете."
BOT_EVENT_ASK_PHOTO = "Пришлите фото к анонсу или нажмите «Без фото»."
BOT_EVENT_NO_PHOTO = "Без фото"
BOT_EVENT_STALE = "Это уже неактуально: начните заново командой /event."
BOT_EVENT_REMINDER_AFTER_START = (
    "Напоминание {typed} — не раньше начала мероприятия. Укажите время до начала."
)
BOT_EVENT_CHOOSE_TARGETS = "Выберите хотя бы один аккаунт и площадку, которая у него есть."
BOT_EVENT_PHOTO_ONLY = "Нужна фотография (или кнопка «Без фото»)."
BOT_EVENT_TEXT_ONLY = "Нужен текст."
BOT_EVENT_PANEL = (
    "Мероприятие: {title}\n{When}\nМесто: {place}\n\n"
    "Аккаунты: {accounts}\nПлощадки: {platforms}\n"
    "Анонс: {announce}\nНапоминания: {reminders}"
)
BOT_EVENT_BUTTON_ANNOUNCE_NOW = "Анонс сейчас"
BOT_EVENT_BUTTON_ANNOUNCE_LATER = "Анонс позже…"
BOT_EVENT_BUTTON_REMINDERS = "Изменить напоминания…"
BOT_EVENT_BUTTON_DEFAULT_REMINDERS = "Напоминания по умолчанию"
BOT_EVENT_BUTTON_CREATE = "Создать"
BOT_EVENT_BUTTON_DISCARD = "Отменить"
BOT_EVENT_ASK_ANNOUNCE_AT = "Когда опубликовать анонс? Местное время, например «03.12 12:00»."
BOT_EVENT_ASK_REMINDERS = (
    "Напишите время напоминаний, каждое с новой строки: «04.12 10:00», «накануне в 10:00», "
    "«за 2 часа», «за 30 минут». Без напоминаний: «нет»."
)
BOT_EVENT_BAD_TIME = "Время «{typed}» не распознано. Пример: «05.12 10:00»."
BOT_EVENT_PAST_TIME = "«{typed}» — это уже прошедшее время. Укажите будущее."
BOT_EVENT_DISCARDED = "Мероприятие не создано."
BOT_EVENT_LIST_HINT = "Перенести: /event_move №, отменить: /event_cancel №."
BOT_EVENT_USAGE_MOVE = "Так: /event_move 12 (номер из /events)."
BOT_EVENT_USAGE_CANCEL = "Так: /event_cancel 12 (номер из /events)."
BOT_EVENT_ASK_NEW_TIME = "Мероприятие №{id} «{title}» назначено {when}. На когда перенести?"
BOT_EVENT_ASK_CANCEL = "Отменить мероприятие №{id} «{title}» ({when})?"
BOT_EVENT_BUTTON_CONFIRM_CANCEL = "Да, отменить"
BOT_EVENT_BUTTON_KEEP = "Нет"
BOT_EVENT_KEPT = "Мероприятие остаётся в силе."
BOT_EVENT_OFFER_NOTICE_MOVED = "Опубликовать сообщение о переносе?"
BOT_EVENT_OFFER_NOTICE_CANCELLED = "Опубликовать сообщение об отмене?"
BOT_EVENT_BUTTON_POST_NOTICE = "Опубликовать"
BOT_EVENT_BUTTON_EDIT_ANNOUNCEMENT = "Исправить анонс"
BOT_EVENT_BUTTON_NO_NOTICE = "Не нужно"
BOT_EVENT_NOTICE_QUEUED = "Сообщение поставлено в очередь (публикация №{publication_id})."
BOT_EVENT_ANNOUNCEMENT_EDIT_QUEUED = (
    "Анонс будет исправлен на всех площадках, где он вышел; итог — в отчёте о публикации."
)
BOT_EVENT_ANNOUNCEMENT_NOT_EDITED = "Здесь анонс не исправить, поправьте вручную: {copies}."
BOT_EVENT_ANNOUNCEMENT_UNCHANGED = "В анонсе нечего менять."

# Recurring posts.
RECURRING_STATUS_ACTIVE = "действует"
RECURRING_STATUS_PAUSED = "на паузе"
RECURRING_LIST_EMPTY = (
    "Повторяющихся публикаций нет. Их добавляет ИТ-специалист на сервере по вашей просьбе."
)
RECURRING_LIST_TITLE = "Повторяющиеся публикации:"
RECURRING_LIST_LINE = "№{id} · {rule} · {status} · следующая: {next} · {accounts}\n«{text}»"
RECURRING_NO_NEXT = "нет"
RECURRING_BUTTON_PAUSE = "⏸ №{id}"
RECURRING_BUTTON_RESUME = "▶️ №{id}"
RECURRING_BUTTON_DELETE = "🗑 №{id}"
RECURRING_PAUSED = "Повторяющаяся публикация №{id} приостановлена."
RECURRING_RESUMED = "Повторяющаяся публикация №{id} снова действует; следующая: {next}."
RECURRING_ASK_DELETE = "Удалить повторяющуюся публикацию №{id}? Уже вышедшие посты останутся."
RECURRING_BUTTON_CONFIRM_DELETE = "Да, удалить"
RECURRING_DELETED = "Повторяющаяся публикация №{id} удалена."
RECURRING_NOT_FOUND = "Повторяющейся публикации №{id} нет."
ALERT_RECURRING_LATE = (
    "⏰ Повторяющаяся публикация №{id} («{text}») должна была выйти {at}, но сервис не "
    "работал; она публикуется с опозданием."
)
ALERT_RECURRING_SKIPPED = (
    "⚠️ Повторяющаяся публикация №{id} («{text}») не вышла {at}: сервис не работал дольше "
    "допустимого опоздания ({grace} мин). Пропущено выпусков: {count}. Если нужно, "
    "опубликуйте вручную."
)
FEED_UNTITLED = "Публикация"


# -- MAX (issue 14) -----------------------------------------------------------------------------

# link_to_first: the last line of every other copy, before the link to the first one.
LINK_TO_FIRST = "Первоисточник {in_platform}:"
# A post or an edit in a MAX channel that could not be handled: kept in the inbox, told once.
MAX_INBOX_FAILED_POST = (
    "⚠️ Пост в канале MAX «{channel}» от {at} не удалось обработать: на другие площадки он не "
    "отправлен. Он сохранён (входящее №{id}), следующие посты обрабатываются как обычно. "
    "Опубликуйте его через бота или сообщите ИТ-специалисту."
)
MAX_INBOX_FAILED_EDIT = (
    "⚠️ Изменение поста в канале MAX «{channel}» от {at} не удалось обработать: копии на других "
    "площадках не изменены. Оно сохранено (входящее №{id}); остальное обрабатывается как обычно."
)


# -- service, health, configuration (issue 12) --------------------------------------------------

# (service texts go here)


# -- delivery engine: inbox, failures at the door (issue 9) -----------------------------------

# (engine texts go here)

# An inbound update that could not be handled: kept in the inbox, reported once, skipped.
INBOX_FAILED_CHANNEL = (
    "⚠️ Пост в канале «{channel}» от {at} не удалось обработать: на другие площадки он не "
    "отправлен. Он сохранён (входящее №{id}), следующие посты обрабатываются как обычно. "
    "Опубликуйте его через бота или сообщите ИТ-специалисту."
)
INBOX_FAILED_EDIT = (
    "⚠️ Изменение поста в канале «{channel}» от {at} не удалось обработать: копии на других "
    "площадках не изменены. Оно сохранено (входящее №{id}); остальное обрабатывается как обычно."
)
INBOX_FAILED_OTHER = (
    "⚠️ Входящее сообщение от {at} не удалось обработать (входящее №{id}). Остальные "
    "сообщения обрабатываются как обычно; если это был ваш запрос к боту, повторите его."
)
INBOX_UNKNOWN_CHANNEL = "неизвестный канал"
# The database cannot be written: nothing is confirmed to Telegram, which keeps the updates.
INTAKE_DB_DOWN = (
    "🚨 Сервис публикаций не может записать данные в базу ({reason}). Новые посты и сообщения "
    "боту не потеряются: Telegram хранит их до суток, и приём продолжится сам, как только запись "
    "заработает. ИТ-специалисту: проверьте свободное место на диске и права на файл базы."
)
INTAKE_DB_REASONS = {
    "readonly": "база открыта только для чтения",
    "full": "диск заполнен",
    "locked": "база занята другим процессом",
    "other": "ошибка записи",
}
INTAKE_DB_BACK = "🟢 Запись в базу снова работает: приём постов и сообщений продолжен."

# -- dates --------------------------------------------------------------------------------------
# Typed publish times (crosspost/dates.py): the confirmation in words, quick picks, refusals.
# Weekdays and months come from WEEKDAYS_ON and MONTHS_GENITIVE above.

DATES_DAY = "{weekday}, {day} {month}"
DATES_DAY_WITH_YEAR = "{weekday}, {day} {month} {year} года"
DATES_WHEN = "{day}, в {time} ({zone})"
DATES_ZONE_NAMED = "по {adjective} времени"
DATES_ZONE_OFFSET = "время UTC{offset}"
# «по … времени» for zones people name by their city (tz database key → adjective, dative).
# Khabarovsk has no key of its own: it is on Asia/Vladivostok time.
DATES_ZONE_ADJECTIVES = {
    "Asia/Vladivostok": "владивостокскому",
    "Europe/Moscow": "московскому",
    "Asia/Yakutsk": "якутскому",
    "Asia/Magadan": "магаданскому",
    "Asia/Kamchatka": "камчатскому",
    "Asia/Irkutsk": "иркутскому",
    "Asia/Krasnoyarsk": "красноярскому",
    "Asia/Novosibirsk": "новосибирскому",
    "Asia/Omsk": "омскому",
    "Asia/Yekaterinburg": "екатеринбургскому",
    "Europe/Samara": "самарскому",
    "Europe/Kaliningrad": "калининградскому",
}
DATES_PICK_TODAY = "Сегодня {time}"
DATES_PICK_TOMORROW = "Завтра {time}"
DATES_EXAMPLES = "«15.12 10:00», «15 декабря в 10», «завтра в 9», «в пятницу в 11», «через 2 часа»"
DATES_UNPARSEABLE = "Не удалось понять время «{typed}». Напишите, например: {examples}."
DATES_AMBIGUOUS = (
    "«{typed}» можно понять по-разному. Уточните, например: «в 5 утра», «в 5 вечера», "
    "«17:00» или с датой: «15.12 10:00»."
)
DATES_AMBIGUOUS_WEEKDAY = (
    "«{typed}» — сегодня или через неделю? Напишите «сегодня в …» или дату, например: "
    "«{next_week} 10:00»."
)
DATES_AMBIGUOUS_NIGHT = (
    "«{typed}» можно понять по-разному: какая это ночь? Напишите дату и время, например: "
    "«15.12 00:30»."
)
DATES_PAST = "Это время уже прошло: {when}. Напишите время в будущем, например: {examples}."
DATES_PASSED_TODAY = (
    "Сегодня {time} уже прошло. Если имеется в виду завтра, напишите «завтра в {time}»; "
    "или укажите дату, например: {examples}."
)
DATES_TOO_FAR = "«{typed}» — больше чем через год. Проверьте дату; например: {examples}."
DATES_ASK_TIME_FOR = (
    "Во сколько опубликовать {day}? Напишите время, например: «10:00» или «в 9 вечера»."
)

# -- queue --------------------------------------------------------------------------------------
# /queue: a small calendar, one message per day; /status: each account's state in plain words.

QUEUE_WEEKDAYS = (
    "Понедельник",
    "Вторник",
    "Среда",
    "Четверг",
    "Пятница",
    "Суббота",
    "Воскресенье",
)
QUEUE_DAY = "{weekday}, {day} {month}"  # Среда, 2 декабря
QUEUE_DAY_YEAR = "{weekday}, {day} {month} {year} г."
QUEUE_DAY_CONTINUED = "{day} (продолжение)"
# {when} below: crosspost.dates.describe_local, «в среду, 2 декабря, в 15:12 (по … времени)».
# «Среда, 2 декабря, 15:12»: a label (QUEUE_DAY and the time).
QUEUE_AT = "{day}, {time}"
QUEUE_EMPTY = "Запланированных публикаций нет."
QUEUE_LINE = "{time} · {targets} · {text}"
QUEUE_TARGETS = "{accounts} · {platforms}"
QUEUE_TARGET_GROUPS = "; "
QUEUE_NO_TEXT = "без текста, вложений: {count}"
QUEUE_SHOWN = "Показано {shown} из {total}."
QUEUE_BUTTON_PREV = "← Раньше"
QUEUE_BUTTON_NEXT = "Дальше →"
QUEUE_BUTTON_POST = "{time} · {text}"
QUEUE_CARD = "Публикация №{id}\n{at}\n{targets}\n\n{text}"
QUEUE_BUTTON_RESCHEDULE = "Перенести"
QUEUE_BUTTON_EDIT_TEXT = "Изменить текст"
QUEUE_BUTTON_CANCEL = "Отменить публикацию"
QUEUE_CANCEL_ASK = (
    "Отменить публикацию №{id} ({at})? Она не выйдет ни на одной площадке; "
    "текст останется в этом чате."
)
QUEUE_BUTTON_CANCEL_YES = "Да, отменить"
QUEUE_BUTTON_CANCEL_NO = "Нет, оставить"
QUEUE_CANCELLED = "Публикация №{id} отменена: она не выйдет."
QUEUE_GONE = "Публикация №{id} уже вышла или отменена — см. /queue."
QUEUE_ASK_TIME = (
    "На когда перенести публикацию №{id}? Сейчас: {at}.\n"
    "Выберите время или напишите его, например: «завтра в 9», «15.12 10:00», «в пятницу в 11»."
)
QUEUE_TIME_PAST = "{at} — это время уже прошло. Напишите время в будущем."
QUEUE_CONFIRM_TIME = "Перенести публикацию №{id}? Она выйдет {when}."
QUEUE_BUTTON_CONFIRM = "Подтвердить"
QUEUE_BUTTON_OTHER_TIME = "Другое время"
QUEUE_BUTTON_OTHER_TEXT = "Другой текст"
QUEUE_BUTTON_DROP = "Отмена"
QUEUE_RESCHEDULED = "Публикация №{id} перенесена: она выйдет {when}."
QUEUE_ASK_TEXT = (
    "Пришлите новый текст публикации №{id} одним сообщением. Фото и видео останутся "
    "прежними. Сейчас текст такой:\n\n{text}"
)
QUEUE_CONFIRM_TEXT = (
    "Заменить текст публикации №{id} во всех копиях ({targets}) на этот?\n\n{text}"
)
QUEUE_TEXT_SAVED = "Текст публикации №{id} изменён: она выйдет {when} с новым текстом."
QUEUE_TEXT_SAVED_PUBLISHED = (
    "Текст публикации №{id} изменён. Часть копий уже вышла — они будут исправлены."
)
QUEUE_TEXT_SAME = "Текст тот же — публикация №{id} остаётся как была."
QUEUE_ACTION_DROPPED = "Хорошо, публикация №{id} остаётся как была."
QUEUE_NOT_YOURS = "Эту кнопку нажимал другой сотрудник."
QUEUE_STALE = "Эта кнопка уже не действует: это уже сделано или отменено. Откройте /queue заново."
QUEUE_REPORT_STALE = "Уже сделано — что с публикацией сейчас, видно в этом отчёте."

STATUS_TITLE = "Состояние аккаунтов"
STATUS_TARGET = "{account} · {platform}"
STATUS_OK = "🟢 {target}: работает, последняя публикация {at}"
STATUS_NEVER = "⚪ {target}: публикаций ещё не было"
STATUS_FAILING = "🟡 {target}: не удалось {at} — {reason}"
STATUS_PAUSED = "⏸ {target}: приостановлено с {at} — {reason}. В очереди копий: {waiting}."
STATUS_PAUSED_HINT = (
    "Приостановленные площадки ждут ИТ-специалиста: после того как он исправит доступ, нажмите "
    "«Возобновить» — копии из очереди уйдут сами."
)
STATUS_BUTTON_RESUME = "Возобновить: {target}"
STATUS_RESUMED = "{target}: публикации возобновлены, копии из очереди уходят."
STATUS_NOT_PAUSED = "{target}: уже работает."
STATUS_STALE = "Эта кнопка уже не действует. Откройте /status заново."
# What happened and what a press officer can do; never a console command (IT gets those).
STATUS_REASONS = {
    "network": "нет связи с площадкой, повтор автоматически",
    "rate_limited": "слишком много запросов к площадке, повтор автоматически",
    "platform_down": "площадка временно не отвечает, повтор автоматически",
    "token_invalid": "доступ бота к аккаунту отозван или неверен, сообщите ИТ-специалисту",
    "session_expired": "доступ к аккаунту истёк, сообщите ИТ-специалисту",
    "no_rights": "у бота нет прав публиковать в этом аккаунте, сообщите ИТ-специалисту",
    "wrong_token_type": "для этого нужен другой ключ доступа, сообщите ИТ-специалисту",
    "captcha": "площадка требует подтвердить вход, сообщите ИТ-специалисту",
    "too_long": "текст оказался слишком длинным для площадки, сократите его",
    "media_rejected": "площадка не приняла файл, проверьте его формат",
    "file_too_big": "файл слишком большой для площадки, уменьшите его",
    "links_forbidden": "площадка не пропустила ссылку в посте, уберите её",
    "post_limit": "исчерпан дневной лимит публикаций, опубликуйте завтра",
    "blocked": "аккаунт заблокирован площадкой, сообщите ИТ-специалисту",
    "bad_request": "площадка отклонила публикацию, проверьте текст и файлы",
    "not_found": "сообщество или пост не найдены, сообщите ИТ-специалисту",
    "unsupported": "площадка не умеет такое действие",
    "config": "ошибка в настройках, сообщите ИТ-специалисту",
    "outcome_unknown": "нет ответа, вышел ли пост; идёт проверка, чтобы не опубликовать дважды",
    "unknown": "непредвиденная ошибка, сообщите ИТ-специалисту",
}

# -- bot --
# A pressed button that is no longer valid says what already happened to its draft.
BOT_STALE_SCHEDULED = "Уже запланировано — см. /queue."
BOT_STALE_PUBLISHED = "Уже опубликовано. Отчёт — в чате пресс-службы."
BOT_STALE_SENDING = "Уже отправляется. Отчёт — в чате пресс-службы."
BOT_STALE_CANCELLED = "Черновик отменён, ничего не опубликовано."
BOT_STALE_SUPERSEDED = "Этот черновик заменён более новым постом — продолжайте с ним."
BOT_STALE_RESCHEDULED = "Уже перенесено — см. /queue."
BOT_STALE_WAITING_TIME = "Нужно время публикации — напишите его или выберите кнопкой."
BOT_BUTTON_UNKNOWN = "Эта кнопка больше не действует. Пришлите пост заново или откройте /queue."
BOT_DELETE_ORIGINAL_STAYS = "Оригинал в Telegram-канале останется — его удаляют в самом канале."
# Preview: one message for each distinct rendering, titled with the platforms that share it.
BOT_PREVIEW_GROUP_TITLE = "Предпросмотр — {platforms}:"
BOT_PREVIEW_PLATFORMS_JOIN = ", "
# Scheduling a new post: {examples} is DATES_EXAMPLES, {when} crosspost.dates.describe_local,
# {digits} the same moment as «02.12.2026 15:12».
BOT_ASK_WHEN = "Когда опубликовать? Выберите время кнопкой или напишите его, например: {examples}."
BOT_CONFIRM_WHEN = "Опубликовать {when}?\n({digits}) Если верно, нажмите «Подтвердить»."
BOT_TIME_PASSED = "Это время уже прошло: {when}."
BOT_SUBMITTED_WHEN = "Принято: публикация №{id} выйдет {when} ({digits}). Список — /queue."
