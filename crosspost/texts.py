"""Every Russian string a person reads: bot replies, staff-chat reports, alerts, CLI messages.

Adapters never build such text; they raise errors with a Reason or return Notices, worded here.
"""

from __future__ import annotations

# Appended to a text cut to a platform's limit, when the full original has a public link.
READ_MORE = "Читать полностью: {url}"
ELLIPSIS = "…"


# -- Telegram: names ---------------------------------------------------------------------------

PLATFORM_NAMES = {
    "telegram": "Telegram",
    "vk": "ВКонтакте",
    "ok": "Одноклассники",
    "max": "MAX",
}
PLATFORM_BUTTONS = {"telegram": "Telegram", "vk": "VK", "ok": "OK", "max": "MAX"}

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

# -- Telegram: reasons, in plain words with what to do ------------------------------------------

# Keys are crosspost.errors.Reason values; {platform} is a name from PLATFORM_NAMES.
REASONS = {
    "network": "нет связи с {platform} — повторим автоматически",
    "rate_limited": "{platform} просит подождать (лимит запросов) — повторим автоматически",
    "platform_down": "{platform} временно не отвечает — повторим автоматически",
    "token_invalid": "токен {platform} отозван или неверен — обновите токен и выполните "
    "crosspost check",
    "session_expired": "сессия {platform} истекла — получите новый токен и выполните "
    "crosspost check",
    "no_rights": "у бота или токена нет прав публиковать в {platform} — выдайте права "
    "администратора и выполните crosspost check",
    "wrong_token_type": "для этого действия в {platform} нужен другой тип токена — "
    "проверьте настройки аккаунта",
    "captcha": "{platform} требует капчу — войдите в аккаунт вручную и повторите",
    "too_long": "текст слишком длинный для {platform} — сократите его и опубликуйте снова",
    "media_rejected": "{platform} не принял файл — проверьте формат и опубликуйте снова",
    "file_too_big": "файл слишком большой для {platform} — уменьшите его и опубликуйте снова",
    "links_forbidden": "{platform} не пропускает ссылки в этом посте — уберите ссылку",
    "post_limit": "исчерпан дневной лимит публикаций в {platform} — повторите завтра",
    "blocked": "аккаунт в {platform} заблокирован — обратитесь в поддержку платформы",
    "bad_request": "{platform} отклонил публикацию — проверьте текст и файлы",
    "not_found": "пост или сообщество в {platform} не найдено — проверьте настройки",
    "unsupported": "{platform} не поддерживает такое действие",
    "config": "ошибка в настройках {platform} — исправьте конфигурацию и выполните "
    "crosspost check",
    "outcome_unknown": "{platform} не ответил, дошёл ли пост — проверяем, чтобы не "
    "опубликовать дважды",
    "unknown": "неизвестная ошибка {platform} — подробности в журнале сервиса",
}
REASON_FALLBACK = REASONS["unknown"]

NOTICES = {
    "text_truncated": "текст сокращён до лимита платформы, добавлена ссылка на оригинал",
    "media_as_link": "файл не удалось приложить — вместо него ссылка на оригинал",
    "vk_photos_need_user_token": "фото не загружены: для фото в VK нужен токен пользователя",
    "media_split": "файлов больше, чем помещается в один пост — остальные во втором посте",
    "media_dropped": "часть файлов платформа не принимает — они пропущены",
    "caption_split": "длинная подпись: сначала файлы, затем текст отдельным сообщением",
    "edit_unsupported": "платформа не даёт изменять посты",
}

# -- Telegram: the report of a publication in the staff chat ----------------------------------

REPORT_TITLE = "📰 Публикация №{id}"
REPORT_SOURCE_CHANNEL = "из канала: {url}"
REPORT_SOURCE_BOT = "из бота, автор {author}"
REPORT_SOURCE_OTHER = "источник: {source}"
REPORT_SCHEDULED_FOR = "🕒 Запланировано на {at}"
REPORT_VERSION = "версия {version}"
REPORT_DELETED = "🗑 Удалена {at}"
REPORT_LINE = "{status} {account} · {platform}: {detail}"
REPORT_PUBLISHED = "✅"
REPORT_PENDING = "⏳"
REPORT_SCHEDULED = "🕒"
REPORT_RETRYING = "🔁"
REPORT_FAILED = "❌"
REPORT_PAUSED = "⏸"
REPORT_UNCERTAIN = "❓"
REPORT_HELD = "✋"
REPORT_CANCELLED = "🚫"
REPORT_DETAIL_PENDING = "публикуется"
REPORT_DETAIL_SCHEDULED = "в {at}"
REPORT_DETAIL_RETRY = "повтор в {at}: {reason}"
REPORT_DETAIL_PUBLISHED_NO_LINK = "опубликовано"
REPORT_DETAIL_UNCERTAIN = "нет ответа от платформы — проверяем, дошёл ли пост"
REPORT_DETAIL_HELD = (
    "не удалось понять, опубликован ли пост — проверьте вручную и нажмите «Повторить» "
    "(если поста нет) или «Отменить» (если он есть)"
)
REPORT_BUTTON_TARGET = "{account} · {platform}"
REPORT_BUTTON_RETRY = "🔁 Повторить: {target}"
REPORT_BUTTON_CANCEL = "🚫 Отменить"
REPORT_RETRY_ACCEPTED = "Отправляем снова."
REPORT_CANCEL_ACCEPTED = "Отменено."
REPORT_DETAIL_CANCELLED = "отменено"
REPORT_DETAIL_PAUSED = "аккаунт приостановлен: {reason}"
REPORT_NOTICE = "ℹ️ {account} · {platform}: {notice}"
REPORT_NOTES_TITLE = "Важно:"
REPORT_NOTE_FILE_TOO_BIG = (
    "⚠️ Файл «{name}» больше 20 МБ: бот не может его скачать. Текст опубликован со ссылкой "
    "на оригинал; при необходимости приложите файл вручную."
)
REPORT_NOTE_DROPPED_TEXT_ONLY = (
    "⚠️ {kinds} не переносится в {platforms}: там опубликован только текст."
)
REPORT_NOTE_EDIT_DONE = "✏️ {account} · {platform}: изменено (версия {version})"
REPORT_NOTE_EDIT_UNSUPPORTED = (
    "✋ {account} · {platform}: изменить нельзя — исправьте вручную: {url}"
)
REPORT_NOTE_EDIT_FAILED = "❌ {account} · {platform}: изменить не удалось — {reason}"
REPORT_NOTE_DELETE_DONE = "🗑 {account} · {platform}: удалено"
REPORT_NOTE_DELETE_UNSUPPORTED = (
    "✋ {account} · {platform}: удалить нельзя — удалите вручную: {url}"
)
REPORT_NOTE_DELETE_FAILED = "❌ {account} · {platform}: удалить не удалось — {reason}"
REPORT_HINT_DELETE = "Чтобы удалить все копии, ответьте на это сообщение словом «удалить»."
REPORT_NO_LINK = "(ссылки нет)"

# A channel post nothing of which can travel: there is no publication to report on.
CHANNEL_NOTHING_TO_MIRROR = (
    "⚠️ Пост в канале «{channel}» ({url}) — {kinds}: это не переносится в {platforms}, "
    "там ничего не опубликовано."
)

# -- Telegram: the staff bot dialog -----------------------------------------------------------

BOT_NOT_STAFF = (
    "Здравствуйте! Этот бот публикует новости администрации и доступен только сотрудникам "
    "пресс-службы. Если вы сотрудник, попросите администратора добавить ваш "
    "Telegram ID: {user_id}."
)
BOT_HELP = (
    "Как опубликовать пост:\n"
    "1. Пришлите сюда текст, фото или видео (или перешлите пост из канала).\n"
    "2. Выберите аккаунты и платформы кнопками под предпросмотром.\n"
    "3. Нажмите «Опубликовать сейчас» или «Запланировать» и напишите время.\n\n"
    "Время можно писать так: «01.12 10:00», «1 декабря 10:00», «завтра 9:30», "
    "«через 2 часа», «10:00». Время местное ({zone}).\n\n"
    "Команды:\n"
    "/queue — что запланировано (отменить, перенести)\n"
    "/status — состояние аккаунтов\n"
    "/delete <ссылка на пост> — удалить пост со всех платформ\n"
    "/help — эта справка\n\n"
    "Посты из каналов администрации копируются автоматически. Отчёты приходят в чат "
    "пресс-службы; чтобы удалить пост, ответьте на отчёт словом «удалить»."
)
BOT_PREVIEW_TITLE = "Предпросмотр — {platform}:"
BOT_PREVIEW_MEDIA = "📎 Файлов: {count}"
BOT_PREVIEW_EMPTY_TEXT = "(без текста)"
BOT_PANEL = (
    "Куда публикуем?\nАккаунты: {accounts}\nПлатформы: {platforms}\n\n"
    "Выберите кнопками и нажмите «Опубликовать сейчас» или «Запланировать»."
)
BOT_PANEL_NOTHING_CHOSEN = "не выбрано"
BOT_BUTTON_ALL_ACCOUNTS = "все"
BOT_BUTTON_CHECKED = "✅ {label}"
BOT_BUTTON_UNCHECKED = "▫️ {label}"
BOT_BUTTON_PUBLISH_NOW = "Опубликовать сейчас"
BOT_BUTTON_SCHEDULE = "Запланировать"
BOT_BUTTON_CANCEL = "Отмена"
BOT_BUTTON_CONFIRM_TIME = "Подтвердить"
BOT_BUTTON_OTHER_TIME = "Другое время"
BOT_NEED_TARGETS = "Выберите хотя бы один аккаунт и одну платформу."
BOT_TARGETS_INVALID = "Такой комбинации аккаунтов и платформ нет: {detail}"
BOT_ASK_TIME = (
    "Когда опубликовать? Напишите местное время ({zone}), например: «01.12 10:00», "
    "«1 декабря 10:00», «завтра 9:30», «через 2 часа»."
)
BOT_CONFIRM_TIME = "Опубликовать {at} (местное время)? Нажмите «Подтвердить»."
BOT_TIME_PAST = "Время {at} уже прошло. Напишите время в будущем."
BOT_TIME_UNPARSEABLE = (
    "Не понял время «{typed}». Напишите, например: «01.12 10:00», «1 декабря 10:00», "
    "«завтра 9:30» или «через 2 часа»."
)
BOT_SUBMITTED_NOW = "Принято: публикация №{id} отправляется. Отчёт будет в чате пресс-службы."
BOT_SUBMITTED_AT = "Принято: публикация №{id} запланирована на {at}."
BOT_CANCELLED = "Черновик отменён, ничего не опубликовано."
BOT_STALE_BUTTON = "Эта кнопка устарела. Пришлите пост заново."
BOT_NOT_YOURS = "Это не ваш черновик."
BOT_DONE = "Готово."
BOT_UNSUPPORTED_CONTENT = (
    "Такое сообщение нельзя опубликовать: {kinds} не переносится на другие платформы. "
    "Пришлите текст, фото, видео, GIF или документ."
)
BOT_UNSUPPORTED_WITH_TEXT = (
    "⚠️ {kinds} не переносится на другие платформы: будет опубликован только текст."
)
BOT_FILE_TOO_BIG = (
    "⚠️ Файл «{name}» больше 20 МБ: бот не может его скачать. Будет опубликован текст со "
    "ссылкой на оригинал, если она есть; иначе приложите файл поменьше."
)
BOT_ALBUM_PART = "Альбом получен, файлов: {count}."
BOT_QUEUE_EMPTY = "Запланированных публикаций нет."
BOT_QUEUE_ITEM = "№{id} — {at}\n{targets}\n{text}"
BOT_BUTTON_QUEUE_CANCEL = "Отменить №{id}"
BOT_BUTTON_QUEUE_RESCHEDULE = "Перенести №{id}"
BOT_QUEUE_CANCELLED = "Публикация №{id} отменена."
BOT_QUEUE_ASK_TIME = "На какое время перенести публикацию №{id}? Напишите местное время."
BOT_QUEUE_RESCHEDULED = "Публикация №{id} перенесена на {at}."
BOT_QUEUE_NOTHING_TO_MOVE = "Публикация №{id} уже отправлена или отменена — переносить нечего."
BOT_STATUS_TITLE = "Состояние аккаунтов:"
BOT_STATUS_LINE = "{state} {account} · {platform}\n    успех: {success}\n    ошибка: {error}"
BOT_STATUS_OK = "🟢"
BOT_STATUS_ERROR = "🟡"
BOT_STATUS_PAUSED = "⏸ приостановлен"
BOT_STATUS_NEVER = "ещё не было"
BOT_STATUS_NONE = "нет"
BOT_DELETE_USAGE = "Напишите /delete и ссылку на пост, например: /delete https://t.me/channel/123"
BOT_DELETE_NOT_FOUND = "Не нашёл публикацию по этой ссылке."
BOT_DELETE_CONFIRM = "Удалить публикацию №{id} со всех платформ ({targets})? Это нельзя отменить."
BOT_BUTTON_DELETE_CONFIRM = "Да, удалить"
BOT_BUTTON_DELETE_KEEP = "Нет, оставить"
BOT_DELETE_KEPT = "Хорошо, ничего не удаляю."
BOT_DELETE_DONE = "Публикация №{id} удалена. Подробности — в отчёте."
BOT_DELETE_ALREADY = "Публикация №{id} уже удалена."
# Words a reply to a report may say to delete the post.
DELETE_WORDS = frozenset({"удалить", "удали", "удаление"})


# -- alerts to the staff chat ---------------------------------------------------------------------

ALERT_ACCOUNT_PAUSED = (
    "⏸ {account} · {platform}: публикации приостановлены — {reason}. "
    "Посты не пропадут: они отправятся, когда проверка пройдёт."
)
ALERT_OK_TOKEN_LAPSING = (
    "⚠️ {account} · Одноклассники: токен перестанет действовать около {at}, если им не "
    "пользоваться. Выполните crosspost check или получите новый токен (docs/ok.md)."
)


# -- statistics (issue 10) ---------------------------------------------------------------------

# Platform names as the yearly report writes them («Телеграм — 7855, ВКонтакте — 4236»).
STATS_PLATFORM_NAMES = {
    "telegram": "Телеграм",
    "vk": "ВКонтакте",
    "ok": "Одноклассники",
    "max": "MAX",
}
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
STATS_POSTS = ("публикация", "публикации", "публикаций")
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
    "(загрузите прошлые данные: crosspost stats import)."
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
STATS_TEXT_POSTS_MONTHS_TITLE = "По месяцам:"
STATS_TEXT_POSTS_MONTH = "{month}: {counts}"
STATS_TEXT_REACH_TITLE = "Охват (просмотры публикаций за тот же период):"
STATS_TEXT_REACH_OWNER = "{owner}: {counts}."
STATS_REACH_TELEGRAM = (
    "Телеграм — бот не может получить число просмотров, смотрите статистику канала "
    "в приложении Telegram"
)
STATS_REACH_NONE = "{platform} — {no_data}"

# Tables (md, csv headers for people, the chart).
STATS_COL_ACCOUNT = "Аккаунт"
STATS_COL_PLATFORM = "Платформа"
STATS_COL_ON = "на {date}"
STATS_COL_GROWTH_PEOPLE = "Прирост, чел."
STATS_COL_GROWTH_PERCENT = "Прирост, %"
STATS_COL_TOTAL = "Всего"
STATS_ROW_OWNER_TOTAL = "всего"
STATS_ROW_TOTAL = "Всего по всем аккаунтам"
STATS_MD_TITLE = "Подписчики на {on} (сравнение с {compare})"
STATS_MD_DATES = "Даты данных: {items}."
STATS_MD_POSTS_TITLE = "Публикации по месяцам"
STATS_MD_REACH_TITLE = "Просмотры публикаций по месяцам"
STATS_MD_REACH_TELEGRAM = (
    "Телеграм: бот не может получить число просмотров — смотрите статистику канала в "
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
STATS_BOT_HINT = "Годовой отчёт целиком: crosspost stats report --format text|md|csv|png"
ALERT_STATS_FAILED = (
    "⚠️ Статистика: не удалось узнать число подписчиков — {account} · {platform}: {reason}. "
    "Остальные числа сохранены; повторим в следующий раз."
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

# What staff read about events (bot and CLI).
EVENT_KINDS = {
    "announcement": "анонс",
    "reminder": "напоминание",
    "moved": "сообщение о переносе",
    "cancelled": "сообщение об отмене",
}
EVENT_POST_STATUSES = {
    "planned": "готовится",
    "queued": "в очереди",
    "skipped": "пропущено",
    "cancelled": "отменено",
}
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
BOT_EVENT_CHOOSE_TARGETS = "Выберите хотя бы один аккаунт и платформу, которая у него есть."
BOT_EVENT_PHOTO_ONLY = "Нужна фотография (или кнопка «Без фото»)."
BOT_EVENT_TEXT_ONLY = "Нужен текст."
BOT_EVENT_PANEL = (
    "Мероприятие: {title}\n{When}\nМесто: {place}\n\n"
    "Аккаунты: {accounts}\nПлатформы: {platforms}\n"
    "Анонс: {announce}\nНапоминания: {reminders}"
)
BOT_EVENT_BUTTON_ANNOUNCE_NOW = "Анонс сейчас"
BOT_EVENT_BUTTON_ANNOUNCE_LATER = "Анонс позже…"
BOT_EVENT_BUTTON_REMINDERS = "Изменить напоминания…"
BOT_EVENT_BUTTON_DEFAULT_REMINDERS = "Напоминания по умолчанию"
BOT_EVENT_BUTTON_CREATE = "✅ Создать"
BOT_EVENT_BUTTON_DISCARD = "Отменить"
BOT_EVENT_ASK_ANNOUNCE_AT = "Когда опубликовать анонс? Местное время, например «03.12 12:00»."
BOT_EVENT_ASK_REMINDERS = (
    "Напишите время напоминаний, каждое с новой строки: «04.12 10:00», «накануне в 10:00», "
    "«за 2 часа», «за 30 минут». Без напоминаний: «нет»."
)
BOT_EVENT_BAD_TIME = "Не понял время «{typed}». Пример: «05.12 10:00»."
BOT_EVENT_PAST_TIME = "«{typed}» — это уже прошедшее время. Укажите будущее."
BOT_EVENT_DISCARDED = "Мероприятие не создано."
BOT_EVENT_NOTHING_TO_CANCEL = "Сейчас ничего не создаётся."
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
RECURRING_LIST_EMPTY = "Повторяющихся публикаций нет. Добавить: crosspost recurring add."
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
LINK_TO_FIRST = "Первоисточник {platform}:"
# "in <platform>" for LINK_TO_FIRST (prepositional case).
PLATFORM_IN = {
    "telegram": "в Telegram",
    "vk": "во ВКонтакте",
    "ok": "в Одноклассниках",
    "max": "в MAX",
}
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
    "🚨 crosspost не может записать данные в базу ({reason}). Новые посты и сообщения боту "
    "не потеряются: Telegram хранит их до суток, и приём продолжится сам, как только запись "
    "заработает. ИТ-специалисту: проверьте свободное место на диске и права на файл базы."
)
INTAKE_DB_REASONS = {
    "readonly": "база открыта только для чтения",
    "full": "диск заполнен",
    "locked": "база занята другим процессом",
    "other": "ошибка записи",
}
INTAKE_DB_BACK = "✅ Запись в базу снова работает: приём постов и сообщений продолжен."

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
    "network": "нет связи с площадкой, повторим сами",
    "rate_limited": "площадка просит подождать, повторим сами",
    "platform_down": "площадка временно не отвечает, повторим сами",
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
    "outcome_unknown": "площадка не ответила, вышел ли пост; проверяем, чтобы не повторить",
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
BOT_STALE_WAITING_TIME = "Сейчас жду время публикации — напишите его или выберите кнопкой."
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
