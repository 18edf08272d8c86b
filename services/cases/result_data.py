"""Result data (办理结果数据): what a department records of an item it approves, as the item's
catalog `results` lists it (the child's assigned citizen ID, the household number, the licence's
credit code, the pension granted...), checked here for a clerk's decision and a department
system's alike, and shown on the item's document and pages in the catalog's order."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from forms.catalog import Fact, Item, ResultField
from forms.values import InvalidValue, mask_id, parse_value
from services.errors import InvalidInput

_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_AMOUNT = re.compile(r"^\d{1,12}(\.\d{1,2})?$")


def _value(field: ResultField, text: str) -> str:
    """The stored form of one value of `field`; raises InvalidValue."""
    if field.type in ("citizen_id", "uscc", "date"):  # checked as the dictionary's facts are
        fact = Fact(field.key, "", field.label, field.label_en, field.type)
        return str(parse_value(fact, text))
    if field.type == "number":
        if not _NUMBER.match(text):
            raise InvalidValue("只能填写字母、数字和连字符", "Letters, digits and hyphens only")
        return text.upper()
    if field.type == "amount":
        amount = text.replace(",", "").replace("，", "")
        if not _AMOUNT.match(amount):
            raise InvalidValue(
                "请填写金额（元），最多两位小数，例如 3260.50",
                "Enter an amount in yuan with at most two decimals, e.g. 3260.50",
            )
        return f"{float(amount):.2f}"
    if field.type == "integer":
        if not text.isdigit() or len(text) > 9:
            raise InvalidValue("请填写整数", "Enter a whole number")
        return str(int(text))
    return text


def check_result_data(
    item: Item, raw: Mapping[str, object], facts: Mapping[str, object] | None = None
) -> dict[str, str]:
    """The result data of an approval of `item`, checked against its `results`: only its keys
    (any other is refused), each within its length and of its type (a citizen ID or credit code
    with its check digit, its birth date the application's `born` fact in `facts`), every
    required one filled. Raises InvalidInput naming the field (`result_<key>`) and its label;
    returns the values in their stored form, blanks left out."""
    fields = {field.key: field for field in item.results}
    for key in raw:
        if key not in fields:
            raise InvalidInput(
                f"result_{key}"[:100],
                f"本事项没有“{key}”这项办理结果，只能填写：{_labels(item) or '无'}",
                f"This item records no result {key!r}; it records: "
                f"{', '.join(f.key for f in item.results) or 'none'}",
            )
    data: dict[str, str] = {}
    for field in item.results:
        value = raw.get(field.key)
        text = "" if value is None else str(value).strip()
        if not text:
            if field.required:
                raise InvalidInput(
                    f"result_{field.key}",
                    f"准予办理时请填写{field.label}",
                    f"Approving needs: {field.label_en}",
                )
            continue
        if len(text) > field.max_length:
            raise InvalidInput(
                f"result_{field.key}",
                f"{field.label}不能超过{field.max_length}个字",
                f"{field.label_en}: at most {field.max_length} characters",
            )
        try:
            data[field.key] = _value(field, text)
            _check_born(field, data[field.key], (facts or {}).get(field.born))
        except InvalidValue as exc:
            raise InvalidInput(
                f"result_{field.key}",
                f"{field.label}：{exc.message}",
                f"{field.label_en}: {exc.message_en}",
            ) from None
    return data


def _check_born(field: ResultField, number: str, born: object) -> None:
    """A citizen ID's birth date (its 7th to 14th characters) is the application's."""
    if not field.born or not born:
        return
    in_number = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
    if in_number != str(born):
        raise InvalidValue(
            f"号码中的出生日期（{in_number}）与申请中的出生日期（{born}）不一致",
            f"the birth date in the number ({in_number}) is not the applicant's ({born})",
        )


def _labels(item: Item) -> str:
    return "、".join(field.label for field in item.results)


def show_date(value: str) -> str:
    """A stored date as a document prints it: 2026年12月06日."""
    day = date.fromisoformat(value)
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def show_value(field: ResultField, value: str) -> str:
    """One recorded value as the document and the pages show it (Chinese)."""
    if field.type == "date":
        return show_date(value)
    if field.type == "amount":
        return f"{float(value):,.2f}元"
    return value


@dataclass(frozen=True)
class ResultRow:
    """One recorded result as shown: its key, labels and value."""

    key: str
    label: str
    label_en: str
    value: str


def result_rows(
    item: Item, data: Mapping[str, object] | None, *, leave_out: tuple[str, ...] = ()
) -> list[ResultRow]:
    """The result data recorded for `item`, in the catalog's order, values as shown and citizen
    IDs masked (a document and a page alike); fields with no value are left out (an automatic
    approval records none), and those in `leave_out` (printed elsewhere, as the holder's)."""
    rows = []
    for field in item.results:
        value = (data or {}).get(field.key)
        if value is None or value == "" or field.key in leave_out:
            continue
        shown = show_value(field, str(value))
        if field.type == "citizen_id":
            shown = mask_id(shown)
        rows.append(ResultRow(field.key, field.label, field.label_en, shown))
    return rows
