"""The copy of every matter's combined form: every label, help text, option, section title,
item and material name the form may show is complete, bilingual, and speaks of its own matter.

The rules, each checked on both languages of every text (`copy_problems`):

- **Cut off.** A text must not end where a sentence cannot end: in Chinese on a structural
  particle or a mark that needs more after it (的 、 ， ： ； an opening bracket or quote, 请
  but not 申请), or on a verb that needs its object (填写 提供 上传 选择: "尚未取名的请填写");
  in English on , : ; ( / - or a word that needs more after it (a, the, of, to, and, or, if,
  with, ...). Brackets and quotes must close in order: （） () 《》 【】 “” ‘’.
- **Bilingual.** A text given in Chinese has an English version that is not empty, not the
  Chinese copied (the catalog's fallback when `label_en` is missing), and has Latin letters.
- **Its own matter.** A shared dictionary text must not use a word that belongs to another
  matter (`MATTER_WORDS`: 生育津贴 is the newborn's, 养老金 the retiree's...), unless the matter
  itself says the word in its name, summary or an item's name (a retirement case does close a
  housing-fund account), or the fact is allow-listed for the word with a reason (`ALLOWED`).
  Only words specific to one matter are listed: 出生日期 or 房屋 appear in many forms.

"Every text the form may show" is what the compiler says the matter may ask
(`forms.compiler.fact_conditions`: each fact under any condition) and its items' materials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from forms.catalog import Catalog, Matter, default_catalog
from forms.compiler import compile_form, fact_conditions

CATALOG = default_catalog()

# Words (lower case for English) that belong to one matter; found in another matter's form,
# they are a text written for that matter and shared by mistake.
MATTER_WORDS: dict[str, tuple[str, ...]] = {
    "newborn": ("生育津贴", "出生医学证明", "出生登记", "新生儿", "maternity", "newborn"),
    "retirement": ("退休", "养老金", "retire"),
    "death": ("死亡", "丧葬", "遗属", "逝者", "death", "deceased", "funeral", "survivor"),
    "school_enrollment": ("入学", "school place", "starting school", "enrollment"),
    "veteran": ("退役", "退伍", "现役", "veteran", "military", "soldier"),
    "unemployment": ("失业", "unemploy"),
    "housing_fund": ("公积金", "housing fund", "housing-fund"),
    "real_estate_transfer": ("转移登记", "过户", "出卖人", "买受人", "seller", "buyer"),
    "convenience_store": ("营业执照", "食品经营", "便利店", "business licence", "food"),
    "employment": ("就业登记", "用工备案", "人事档案接收"),
}

# (fact key, word) -> why the fact may say another matter's word in any form that shows it.
ALLOWED: dict[tuple[str, str], str] = {
    ("social_insurance_status", "退休"): "已退休 is a status of the insurance record itself",
    ("social_insurance_status", "retire"): "'Retired' is a status of the insurance record",
    ("veteran_placement", "退休"): "retirement is one of the ways a veteran is placed",
    ("veteran_placement", "retire"): "retirement is one of the ways a veteran is placed",
    ("school_child_birth_cert_number", "出生医学证明"): "enrollment checks the child's certificate",
}

_ZH_CUT = ("的", "、", "，", "：", "；", "（", "“", "‘", "《", "【")
_ZH_OBJECT_VERBS = ("填写", "提供", "上传", "选择")
_EN_CUT = (",", ":", ";", "(", "/", "-")
# Words after which an English sentence cannot stop ("Enlisted on" and "to train for" can).
_EN_OPEN_WORDS = frozenset(
    ("a", "an", "the", "of", "to", "and", "or", "if", "with", "by", "as", "at", "from")
    + ("into", "than", "that", "which", "whose", "who", "is", "are", "be", "your", "their")
)
_PAIRS = {"）": "（", ")": "(", "》": "《", "】": "【", "”": "“", "’": "‘"}
_LATIN = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class Copy:
    """One text of a matter's form in both languages, and where it comes from."""

    where: str  # e.g. "fact bank_card_number help"
    zh: str
    en: str
    fact: str | None = None  # the dictionary fact it belongs to (None: an item or material)


def _brackets_close(text: str) -> bool:
    stack: list[str] = []
    for char in text:
        if char in _PAIRS.values():
            stack.append(char)
        elif char in _PAIRS and (not stack or stack.pop() != _PAIRS[char]):
            return False
    return not stack and text.count('"') % 2 == 0


def cut_off(text: str, *, english: bool) -> bool:
    """Whether `text` ends where a sentence cannot, or leaves a bracket or quote open."""
    text = text.strip()
    if not _brackets_close(text):
        return True
    if english:
        last = re.split(r"\s+", text)[-1].lower()
        return text.endswith(_EN_CUT) or last in _EN_OPEN_WORDS
    if text.endswith("请") and not text.endswith("申请"):
        return True  # 请 asks for something still to come; 申请 (apply) is a whole word
    return text.endswith(_ZH_CUT) or text.endswith(_ZH_OBJECT_VERBS)


def copy_problems(copy: Copy) -> list[str]:
    """What is wrong with one text on its own: cut off, or its English missing or untranslated."""
    problems = []
    if not copy.zh and not copy.en:
        return problems
    if copy.zh and cut_off(copy.zh, english=False):
        problems.append(f"{copy.where}: cut off or unbalanced: {copy.zh!r}")
    if not copy.en.strip():
        problems.append(f"{copy.where}: no English for {copy.zh!r}")
    elif copy.en == copy.zh or not _LATIN.search(copy.en):
        problems.append(f"{copy.where}: English not translated: {copy.en!r}")
    elif cut_off(copy.en, english=True):
        problems.append(f"{copy.where}: English cut off or unbalanced: {copy.en!r}")
    if copy.en.strip() and not copy.zh.strip():
        problems.append(f"{copy.where}: English without Chinese: {copy.en!r}")
    return problems


def own_words(catalog: Catalog, matter: Matter) -> str:
    """What the matter says about itself (lower case): its name, summary and items' names."""
    parts = [matter.name, matter.name_en, matter.summary, matter.summary_en]
    parts += [text for item in catalog.items_of(matter) for text in (item.name, item.name_en)]
    return " ".join(parts).lower()


def foreign_words(catalog: Catalog, matter: Matter, copy: Copy) -> list[str]:
    """The words of other matters that `copy` uses in `matter`'s form without leave."""
    own = own_words(catalog, matter)
    text = f"{copy.zh} {copy.en}".lower()
    found = []
    for owner, words in MATTER_WORDS.items():
        if owner == matter.code:
            continue
        for word in words:
            if word in text and word not in own and (copy.fact, word) not in ALLOWED:
                found.append(f"{copy.where}: {word!r} belongs to {owner}: {copy.zh!r}")
    return found


def form_copy(catalog: Catalog, matter: Matter) -> list[Copy]:
    """Every text the matter's form may show, in both languages."""
    copies = []
    sections = {}
    for key in fact_conditions(catalog, matter):
        fact = catalog.facts[key]
        subject = catalog.subjects[fact.subject]
        sections.setdefault(
            subject.code, Copy(f"section {subject.code}", subject.label, subject.label_en)
        )
        copies += [
            Copy(f"fact {key} label", fact.label, fact.label_en, key),
            Copy(f"fact {key} help", fact.help, fact.help_en, key),
        ]
        copies += [
            Copy(f"fact {key} option {o.value}", o.label, o.label_en, key) for o in fact.options
        ]
    copies += sections.values()
    for item in catalog.items_of(matter):
        copies.append(Copy(f"item {item.code}", item.name, item.name_en))
        copies += [
            Copy(f"item {item.code} material {m.code}", m.name, m.name_en) for m in item.materials
        ]
    return copies


@pytest.mark.parametrize("code", sorted(CATALOG.matters))
def test_the_copy_covers_what_the_compiled_form_shows(code):
    """The texts read are a superset of the form the compiler builds for a first visit."""
    matter = CATALOG.matter(code)
    read = {c.fact for c in form_copy(CATALOG, matter)}
    shown = {f.key for f in compile_form(CATALOG, matter, {}).fields}
    assert shown and shown <= read


@pytest.mark.parametrize("code", sorted(CATALOG.matters))
def test_every_text_of_the_form_is_complete_bilingual_and_its_own_matters(code):
    matter = CATALOG.matter(code)
    problems = []
    for copy in form_copy(CATALOG, matter):
        problems += copy_problems(copy) + foreign_words(CATALOG, matter, copy)
    assert problems == [], "\n".join(problems)


def test_every_allowance_is_used():
    """An allow-list entry whose fact no longer says the word is stale: remove it."""
    texts = {
        key: f"{f.label} {f.label_en} {f.help} {f.help_en}" for key, f in CATALOG.facts.items()
    }
    texts = {
        key: (text + " " + " ".join(f"{o.label} {o.label_en}" for o in CATALOG.facts[key].options))
        for key, text in texts.items()
    }
    stale = [(key, word) for key, word in ALLOWED if word not in texts[key].lower()]
    assert stale == []


@pytest.mark.parametrize(
    ("zh", "en"),
    [
        ("请与出生医学证明登记的姓名一致；尚未取名的请填写", "As on the certificate"),
        ("申请人的", "The applicant's"),
        ("医保报销、", "Medical refunds,"),
        ("出生日期（年-月", "Date of birth (year-month"),
        ("“电子证照", "Electronic certificate"),
        ("缴费记录请", "Contribution record"),
        ("银行卡号", ""),
        ("银行卡号", "银行卡号"),
        ("银行卡号", "Bank card number of the"),
        ("银行卡号", "Paid to the account (see"),
        ("", "Bank card number"),
    ],
)
def test_a_cut_off_or_untranslated_text_is_found(zh, en):
    assert copy_problems(Copy("fake", zh, en))


@pytest.mark.parametrize(
    ("zh", "en"),
    [
        ("请与出生医学证明登记的姓名一致", "As on the birth medical certificate"),
        (
            "选“是”的，同时办理毕业生人事档案接收（如有）",
            "If so, the file is received too (if any)",
        ),
        ("注册资本（万元）", "Registered capital (10,000 yuan)"),
        ("退休申请", "Retirement application"),
        ("入伍时间", "Enlisted on"),
    ],
)
def test_a_complete_bilingual_text_passes(zh, en):
    assert copy_problems(Copy("fake", zh, en)) == []


@pytest.mark.parametrize(
    ("matter", "zh", "en", "fact"),
    [
        (
            "retirement",
            "医保报销、生育津贴等待遇发放至此账户",
            "Maternity allowance goes here",
            None,
        ),
        ("newborn", "养老金按月发放至此账户", "The pension is paid here monthly", None),
        ("school_enrollment", "逝者户籍地址", "Address of the deceased", None),
        ("unemployment", "已退休", "Retired", "applicant_sex"),  # leave is given per fact
    ],
)
def test_a_word_of_another_matter_is_found(matter, zh, en, fact):
    copy = Copy("fake", zh, en, fact)
    assert foreign_words(CATALOG, CATALOG.matter(matter), copy)


def test_a_matter_may_say_what_its_own_items_do():
    """Retirement closes a housing-fund account: 公积金 is its own word, not the fund's."""
    copy = Copy("fake", "住房公积金个人账号", "Housing-fund account number")
    assert foreign_words(CATALOG, CATALOG.matter("retirement"), copy) == []
