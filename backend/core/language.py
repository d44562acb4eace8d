"""The request's language for the security service's descriptions (seed 001, Рис. 33: "Доступ запрещен"):
Russian by default, English when ``Accept-Language`` prefers it."""

from __future__ import annotations

# code → (Russian, English): the security service's result.description for each code it answers.
SECURITY_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "ACCESS_DENIED": ("Доступ запрещен", "Access denied"),
    "INVALID_CREDENTIALS": ("Неверный логин или пароль", "Wrong login or password"),
    "ACCOUNT_LOCKED": ("Учётная запись заблокирована; обратитесь к руководителю",
                       "This account is locked; contact your supervisor"),
    "LOGIN_THROTTLED": ("Слишком много неудачных попыток входа; повторите позже",
                        "Too many failed logins; try again later"),
    "VALIDATION_ERROR": ("Некорректный запрос", "Invalid request"),
    "MALFORMED_JSON": ("Тело запроса — не JSON", "Request body is not valid JSON"),
    "PAYLOAD_TOO_LARGE": ("Слишком большой запрос", "Request body too large"),
    "UNSUPPORTED_MEDIA_TYPE": ("Неподдерживаемый тип содержимого", "Unsupported media type"),
    "METHOD_NOT_ALLOWED": ("Метод не поддерживается", "Method not allowed"),
    "NOT_FOUND": ("Не найдено", "Not found"),
    "SERVICE_UNAVAILABLE": ("Сервис временно недоступен; повторите позже",
                            "Service temporarily unavailable; try again later"),
    "INTERNAL_ERROR": ("Внутренняя ошибка", "Internal error"),
}


def prefers_english(accept_language: str | None) -> bool:
    """The first of Russian and English in the header's order of preference (q values) is English."""
    if not accept_language:
        return False
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, tag.strip().split("-")[0].lower()))
    for quality, _, language in sorted(ranked):
        if quality < 0 and language in ("ru", "en"):
            return language == "en"
    return False


def describe(code: str, english: bool, fallback: str, field: str | None = None) -> str:
    """The security service's description of a code in the request's language."""
    pair = SECURITY_DESCRIPTIONS.get(code)
    if pair is None:
        return fallback
    text = pair[1] if english else pair[0]
    if field:
        text += f": {'field' if english else 'поле'} {field}"
    return text
