"""Value checks: citizen IDs (GB 11643), credit codes (GB 32100), phones, cards, dates, enums."""

from __future__ import annotations

import pytest
from stdnum.cn import uscc

from forms.catalog import default_catalog
from forms.values import InvalidValue, check_citizen_id, check_uscc, mask_id, parse_value


@pytest.mark.parametrize(
    "number", ["31010519940908028X", "310104199511020172", "11010519491231002x"]
)
def test_valid_citizen_ids_are_accepted_and_normalised(number):
    assert check_citizen_id(number) == number.upper()


@pytest.mark.parametrize(
    ("number", "fix"),
    [
        ("3101051994090802", "18位"),
        ("310105199409080281", "校验位"),  # wrong check character
        ("31010519941308028X", "出生日期"),  # month 13
        ("99010519940908028X", "行政区划"),  # region 990105 does not exist
        ("31010520990908028X", "晚于今天"),
        ("3101051994090802XX", "前17位应为数字"),
    ],
)
def test_invalid_citizen_ids_name_the_fix(number, fix):
    if fix in ("出生日期", "行政区划", "晚于今天"):
        # give the number a correct check character so the later checks are reached
        from stdnum.cn import ric

        number = number[:17] + ric.calc_check_digit(number)
    with pytest.raises(InvalidValue) as raised:
        check_citizen_id(number)
    assert fix in raised.value.message
    assert raised.value.message_en


def _with_check(body: str) -> str:
    return body + uscc.calc_check_digit(body + "0")


def test_credit_codes_with_letters_in_the_first_two_positions_are_accepted():
    company = _with_check("91310106593128463")
    other_organisation = _with_check("Y1310000MA1K4A2B3")
    assert check_uscc(company) == company
    assert check_uscc(other_organisation) == other_organisation
    assert not uscc.is_valid(other_organisation)  # stdnum alone would refuse it


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        ("9131010659312846", "18位"),
        ("91310106593128463Q", "校验位"),
        ("9131O106593128463P", "不允许的字符"),
        ("91ABCDEF593128463P", "行政区划"),
    ],
)
def test_invalid_credit_codes_name_the_fix(code, fix):
    with pytest.raises(InvalidValue) as raised:
        check_uscc(code)
    assert fix in raised.value.message


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("applicant_phone", "138 1234 5678", "13812345678"),
        ("bank_card_number", "6222 0202 0011 2233 446", "6222020200112233446"),
        ("child_birth_date", "2026-11-15", "2026-11-15"),
        ("household_parent", "mother", "mother"),
        ("mother_maternity_insurance", "是", True),
        ("child_name", "  ", None),
    ],
)
def test_values_are_parsed_by_type(key, raw, expected):
    assert parse_value(default_catalog().facts[key], raw) == expected


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("applicant_phone", "23812345678"),
        ("bank_card_number", "6222020200112233442"),
        ("child_birth_date", "15/11/2026"),
        ("household_parent", "grandma"),
        ("mother_maternity_insurance", "maybe"),
        ("child_name", "名" * 101),
    ],
)
def test_bad_values_are_refused_in_both_languages(key, raw):
    with pytest.raises(InvalidValue) as raised:
        parse_value(default_catalog().facts[key], raw)
    assert raised.value.message and raised.value.message_en


def test_numbers_are_masked_for_lists():
    assert mask_id("31010519940908028X") == "310105********028X"
    assert mask_id("13812345678") == "138****5678"
    assert mask_id(None) == ""
