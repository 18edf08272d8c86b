"""The shared-data registries (共享数据库) a fact or material can come from."""

from __future__ import annotations

# Registry codes, with their display names (Chinese, English).
REGISTRIES: dict[str, tuple[str, str]] = {
    "population": ("人口库（公安户籍）", "Population registry"),
    "marriage": ("婚姻登记库（民政）", "Marriage registry"),
    "birth": ("出生医学信息库（卫健）", "Birth medical records"),
    "death": ("死亡医学信息库（卫健）", "Death medical records"),
    "medical_insurance": ("医疗保障信息库（医保）", "Medical insurance registry"),
    "social_insurance": ("社会保险信息库（人社）", "Social insurance registry"),
    "housing_fund": ("住房公积金信息库", "Housing provident fund registry"),
    "real_estate": ("不动产登记库（自然资源）", "Real-estate registry"),
    "legal_person": ("法人库（市场监管）", "Legal-person registry"),
    "education": ("学籍库（教育）", "Student registry"),
    "veterans": ("退役军人信息库", "Veterans registry"),
    "certificates": ("电子证照库", "Electronic certificate library"),
    "onething": ("一件事办件系统（办件查阅）", "OneThing case files (case viewed)"),
}


def registry_name(code: str, lang: str = "zh") -> str:
    """The registry's display name, or its code when unknown."""
    names = REGISTRIES.get(code)
    if names is None:
        return code
    return names[1] if lang == "en" else names[0]
