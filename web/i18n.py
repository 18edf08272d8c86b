"""Language choice: Simplified Chinese first, English on request (cookie `lang`)."""

from __future__ import annotations

from fastapi import Request

LANGUAGES = ("zh", "en")


def language(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("lang") or "zh"
    return lang if lang in LANGUAGES else "zh"


def translator(lang: str):
    """`t(zh, en)` picks the text of the current language; English falls back to Chinese."""

    def t(zh: str, en: str | None = None) -> str:
        return en if lang == "en" and en else zh

    return t
