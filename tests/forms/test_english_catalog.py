"""The catalog's English: every shipped item's legal basis (依据) has a faithful English
rendering for English pages, and the loader refuses an item whose legal basis has none."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from forms.catalog import CATALOG_DIR, CatalogError, default_catalog, load_catalog

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")  # CJK characters and marks


@pytest.mark.parametrize("item", default_catalog().items.values(), ids=lambda item: item.code)
def test_every_item_has_its_legal_basis_in_english(item):
    assert item.legal_basis, f"{item.code} names no legal basis"
    english = item.legal_basis_en
    assert english and not CJK.search(english), f"{item.code}: {english!r}"
    # the articles cited in Chinese (第二十三条) are the articles cited in English (Article 23)
    articles = len(re.findall(r"第[零一二三四五六七八九十百千]+条", item.legal_basis))
    cited = len(re.findall(r"\d+", re.sub(r"\(\w+ \[\d{4}\] No\. \d+\)", "", english)))
    assert cited >= articles, f"{item.code}: {articles} articles cited, {english!r}"


def test_a_legal_basis_without_english_is_refused(tmp_path: Path):
    shutil.copytree(CATALOG_DIR, tmp_path, dirs_exist_ok=True)  # the shipped catalog, and:
    (tmp_path / "items" / "zz_new.toml").write_text(
        '[[item]]\ncode = "x"\nname = "X"\ndepartment = "health"\ntime_limit_days = 1\n'
        'facts = []\nlegal_basis = "《中华人民共和国母婴保健法》第二十三条"\n',
        encoding="utf-8",
    )
    with pytest.raises(CatalogError) as raised:
        load_catalog(tmp_path)
    assert raised.value.problems == [
        "items/zz_new.toml: item x: a legal_basis needs its English rendering, legal_basis_en"
    ]
