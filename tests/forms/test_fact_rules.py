"""The validation rules the form sends to clients (forms.compiler.FACT_RULES) say what the
server's checks (forms.values.parse_value) accept: a value the rules refuse is refused by the
server, and the server's accepted values pass the rules."""

from __future__ import annotations

import re

import pytest

from forms.catalog import FACT_TYPES, Fact, Option
from forms.compiler import FACT_RULES, FactRules
from forms.values import InvalidValue, parse_value
from tests.forms.test_matters import SAMPLES

# Values the server accepts, as people type them (spaces, hyphens, lower case)
ACCEPTED = {
    "citizen_id": ["310101199201250766", " 31010519940908028x "],
    "uscc": ["91310106593128463P", "91-3101-0659-3128-463p"],
    "bank_card": ["6222 0202 0011 2233 446", "6222-0202-0011-2233-446"],
    "phone": ["139 1234 5678", "139-1234-5678"],
    "date": ["2026-01-31"],
    "integer": ["42", "-3"],
    "text": ["x" * 100],
    "address": ["路" * 200],
}
# Values the rules refuse; the server refuses them too
REFUSED = {
    "citizen_id": ["31010119920125076", "31010119920125076Y", "ABCDEFGHIJKLMNOPQR"],
    "uscc": ["91310106593128463", "9131010659312846OP"],
    "bank_card": ["12345678901", "6222x0202001122334"],
    "phone": ["23912345678", "1391234567"],
    "date": ["2026/01/31", "31-01-2026"],
    "integer": ["1.5", "one"],
    "text": ["x" * 101],
    "address": ["路" * 201],
}


def _fact(kind: str) -> Fact:
    options = (Option("a", "甲", "A"),) if kind == "enum" else ()
    return Fact(
        key="k", subject="applicant", label="项", label_en="Item", type=kind, options=options
    )


def _passes(rules: FactRules, value: str) -> bool:
    text = value.strip()
    for char in rules.strip:
        text = text.replace(char, "")
    if rules.max_length is not None and len(text) > rules.max_length:
        return False
    return rules.pattern is None or re.fullmatch(rules.pattern, text) is not None


def test_every_fact_type_has_its_rules():
    assert set(FACT_RULES) == FACT_TYPES
    for kind, rules in FACT_RULES.items():
        assert rules.format == kind and rules.description and rules.description_en


@pytest.mark.parametrize("kind", sorted(ACCEPTED))
def test_what_the_server_accepts_passes_the_rules(kind):
    values = [*ACCEPTED[kind], str(SAMPLES.get(kind, ACCEPTED[kind][0]))]
    for value in values:
        parse_value(_fact(kind), value)  # the server accepts it
        assert _passes(FACT_RULES[kind], value), (kind, value)


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_what_the_rules_refuse_the_server_refuses(kind):
    for value in REFUSED[kind]:
        assert not _passes(FACT_RULES[kind], value), (kind, value)
        with pytest.raises(InvalidValue):
            parse_value(_fact(kind), value)


def test_checksums_are_named_where_the_server_checks_one():
    named = {kind for kind, rules in FACT_RULES.items() if rules.checksum}
    assert named == {"citizen_id", "uscc", "bank_card"}
    with pytest.raises(InvalidValue):  # passes the pattern, fails the check digit
        parse_value(_fact("citizen_id"), "310101199201250767")
    assert _passes(FACT_RULES["citizen_id"], "310101199201250767")
