"""Parse and check one fact's value by its type; errors name the fix in Chinese and English.

Citizen IDs (GB 11643) and bank cards go through python-stdnum; unified social credit codes
(GB 32100) too, except that stdnum demands digits in positions 1-2 while the standard allows
letters there (e.g. 'Y' for other organisations), which we accept with the same checksum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from stdnum import luhn
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from forms.catalog import Fact

PHONE = re.compile(r"^1[3-9]\d{9}$")
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@dataclass(frozen=True)
class FieldError:
    """A message for one field, in both languages."""

    key: str
    message: str
    message_en: str


# Fact types answered by choosing (a drop-down), not by typing: their prompt and their
# "missing" message say 请选择 (choose), the others 请填写 (fill in).
CHOICE_TYPES = frozenset({"enum", "bool"})


def is_choice(fact: Fact) -> bool:
    """Whether the fact is answered by choosing one of given options."""
    return fact.type in CHOICE_TYPES


def missing_message(fact: Fact) -> tuple[str, str]:
    """What a required fact left blank is told, in Chinese and English: 请选择 for a choice,
    请填写 for the rest."""
    if is_choice(fact):
        return f"请选择{fact.label}", f"Please choose: {fact.label_en}"
    return f"请填写{fact.label}", f"{fact.label_en} is required"


class InvalidValue(Exception):
    def __init__(self, message: str, message_en: str):
        self.message = message
        self.message_en = message_en
        super().__init__(message_en)


def check_citizen_id(raw: str) -> str:
    number = ric.compact(raw)
    if len(number) != 18:
        raise InvalidValue("公民身份号码应为18位", "A citizen ID number has 18 characters")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidValue(
            "公民身份号码前17位应为数字，最后一位为数字或X",
            "The first 17 characters must be digits, the last a digit or X",
        )
    if number[17] != ric.calc_check_digit(number):
        raise InvalidValue(
            "公民身份号码校验位不正确，请核对每一位数字",
            "The check character is wrong: please check every digit",
        )
    try:
        born = ric.get_birth_date(number)
    except ValidationError:
        raise InvalidValue(
            "公民身份号码中的出生日期无效", "The birth date inside the number is not a real date"
        ) from None
    if born > date.today():
        raise InvalidValue(
            "公民身份号码中的出生日期晚于今天", "The birth date inside the number is in the future"
        )
    try:
        ric.get_birth_place(number)
    except ValidationError:
        raise InvalidValue(
            "公民身份号码中的行政区划代码不存在", "The region code inside the number does not exist"
        ) from None
    return number


def check_uscc(raw: str) -> str:
    number = uscc.compact(raw)
    if len(number) != 18:
        raise InvalidValue(
            "统一社会信用代码应为18位", "A unified social credit code has 18 characters"
        )
    if any(c not in USCC_ALPHABET for c in number):
        raise InvalidValue(
            "统一社会信用代码含有不允许的字符（不使用I、O、Z、S、V）",
            "The code has characters outside the allowed set (no I, O, Z, S, V)",
        )
    if not number[2:8].isdigit():
        raise InvalidValue(
            "统一社会信用代码第3至8位应为登记管理机关行政区划码",
            "Positions 3 to 8 must be the registering authority's region code",
        )
    if number[-1] != uscc.calc_check_digit(number):
        raise InvalidValue(
            "统一社会信用代码校验位不正确，请核对", "The check character is wrong: please check it"
        )
    return number


def check_bank_card(raw: str) -> str:
    number = re.sub(r"[\s-]", "", raw)
    if not number.isdigit() or not 12 <= len(number) <= 19:
        raise InvalidValue("银行卡号应为12至19位数字", "A bank card number has 12 to 19 digits")
    if not luhn.is_valid(number):
        raise InvalidValue(
            "银行卡号校验不通过，请核对卡号", "The card number fails its check: please check it"
        )
    return number


def parse_value(fact: Fact, raw: object) -> object:
    """The typed value of `raw` for `fact`; raises `InvalidValue`. Blank input gives None."""
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        return None
    if fact.type == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"true", "1", "yes", "on", "是"}:
            return True
        if text in {"false", "0", "no", "off", "否"}:
            return False
        raise InvalidValue("请选择“是”或“否”", "Choose yes or no")
    text = str(raw).strip()
    if fact.type == "citizen_id":
        return check_citizen_id(text)
    if fact.type == "uscc":
        return check_uscc(text)
    if fact.type == "bank_card":
        return check_bank_card(text)
    if fact.type == "phone":
        digits = re.sub(r"[\s-]", "", text)
        if not PHONE.match(digits):
            raise InvalidValue(
                "请填写11位手机号码，以1开头", "Enter an 11-digit mobile number starting with 1"
            )
        return digits
    if fact.type == "date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise InvalidValue(
                "日期格式应为 年-月-日，例如 2026-01-31", "Use the date format YYYY-MM-DD"
            ) from None
    if fact.type == "integer":
        try:
            return int(text)
        except ValueError:
            raise InvalidValue("请填写整数", "Enter a whole number") from None
    if fact.type == "enum":
        allowed = [option.value for option in fact.options]
        if text not in allowed:
            choices = "、".join(option.label for option in fact.options)
            raise InvalidValue(f"请从以下选项中选择：{choices}", "Choose one of the listed options")
        return text
    limit = 200 if fact.type == "address" else 100
    if len(text) > limit:
        raise InvalidValue(f"不能超过{limit}个字", f"At most {limit} characters")
    return text


def mask_id(number: str | None) -> str:
    """A citizen ID or phone masked for lists: first and last few characters only."""
    if not number:
        return ""
    if len(number) == 18:
        return f"{number[:6]}********{number[-4:]}"
    if len(number) == 11:
        return f"{number[:3]}****{number[-4:]}"
    keep = max(1, len(number) // 4)
    return number[:keep] + "*" * (len(number) - 2 * keep) + number[-keep:]
