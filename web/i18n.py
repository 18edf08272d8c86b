"""Language choice: Simplified Chinese first, English on request (cookie `lang`); and the
visitor's other display preference, the elderly-friendly mode (长辈版, cookie `elderly`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

LANGUAGES = ("zh", "en")
# The elderly-friendly mode is kept in the browser, for a year: a display choice of the person
# at this browser (also before signing in), not of an account, so no column holds it.
ELDERLY_COOKIE = "elderly"
PREFERENCE_SECONDS = 365 * 86400


def language(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("lang") or "zh"
    return lang if lang in LANGUAGES else "zh"


def elderly_mode(request: Request) -> bool:
    """Whether the visitor switched the elderly-friendly mode on (larger type, more contrast)."""
    return request.cookies.get(ELDERLY_COOKIE) == "1"


def translator(lang: str):
    """`t(zh, en)` picks the text of the current language; English falls back to Chinese."""

    def t(zh: str, en: str | None = None) -> str:
        return en if lang == "en" and en else zh

    return t


# A catalog object's name in each language: its Chinese attribute and the English twin.
_NAMES = (("name", "name_en"), ("label", "label_en"))


def localized(thing: Any, lang: str) -> str:
    """The name of a catalog object (department, matter, item, fact, option, material) in
    `lang`, from the catalog's own bilingual fields; the Chinese name when it has no English."""
    for zh, en in _NAMES:
        if hasattr(thing, zh):
            chinese = getattr(thing, zh)
            return (getattr(thing, en, None) or chinese) if lang == "en" else chinese
    return str(thing)


def option_label(fact: Any, value: object, lang: str) -> str:
    """The label of a choice fact's chosen value in `lang` (the value itself when unknown)."""
    for option in getattr(fact, "options", ()):
        if option.value == value:
            return localized(option, lang)
    return "" if value is None else str(value)
