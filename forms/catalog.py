"""The catalog: departments, the data dictionary, service items and matters, loaded from data files.

The files live in `forms/catalog/` (TOML) so an administrator can edit them; `load_catalog`
reads and cross-checks them and raises `CatalogError` listing every problem with its file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from engine.sandbox import check_expression
from forms.sources import REGISTRIES

CATALOG_DIR = Path(__file__).parent / "catalog"

FACT_TYPES = {
    "text",
    "citizen_id",
    "uscc",
    "phone",
    "date",
    "enum",
    "bool",
    "bank_card",
    "address",
    "integer",
}


# What a department records of an approved item (an item's `results`): text, a date, a citizen
# ID or credit code (checked like the dictionary's), a document or account number (letters and
# digits), an amount of yuan, a whole number.
RESULT_TYPES = {"text", "date", "citizen_id", "uscc", "number", "amount", "integer"}

# Why an item may be refused when its file names no reasons of its own (不予办理理由).
DEFAULT_REJECT_REASONS = (
    "申请人不符合法定条件",
    "申请材料不真实或与共享数据不一致",
    "不属于本部门职权范围",
    "申请人申请撤回",
    "其他（见说明）",
)
# Their English, for the clerk's pages in English (the Chinese stays the stored value).
REJECT_REASONS_EN = {
    "申请人不符合法定条件": "The applicant does not meet the legal conditions",
    "申请材料不真实或与共享数据不一致": "The materials are untrue or disagree with the shared data",
    "不属于本部门职权范围": "Not within this department's powers",
    "申请人申请撤回": "The applicant asked to withdraw",
    "其他（见说明）": "Other (see the comment)",
}


class CatalogError(Exception):
    """The catalog files are inconsistent; `problems` lists each as 'file: message'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("catalog errors:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Department:
    code: str  # fixed: what a BPMN lane is bound to (its `department` property)
    name: str
    name_en: str
    # Public service information and where supervisors' notifications go; administrators set
    # them at run time (services.configuration.departments), the catalog leaves them empty.
    address: str = ""
    phone: str = ""
    opening_hours: str = ""
    supervisor_email: str = ""
    # The city whose department it is (departments.toml `city`) and, where the department's
    # official name is not the city's name and its own (国家税务总局示范市税务局), that name.
    city: str = ""
    city_en: str = ""
    official_name: str = ""
    official_name_en: str = ""

    @property
    def full_name(self) -> str:
        """The name a document is issued and sealed under: 示范市公安局."""
        return self.official_name or f"{self.city}{self.name}"

    @property
    def full_name_en(self) -> str:
        return self.official_name_en or " ".join(p for p in (self.city_en, self.name_en) if p)


@dataclass(frozen=True)
class Subject:
    code: str
    label: str
    label_en: str
    order: int


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    label_en: str


@dataclass(frozen=True)
class Fact:
    key: str
    subject: str
    label: str
    label_en: str
    type: str
    source: str | None = None
    options: tuple[Option, ...] = ()
    help: str = ""
    help_en: str = ""
    required_if: str | None = None
    optional: bool = False

    def option_label(self, value: object) -> str:
        for option in self.options:
            if option.value == value:
                return option.label
        return "" if value is None else str(value)


@dataclass(frozen=True)
class Material:
    code: str
    name: str
    name_en: str
    source: str | None = None
    evidence: tuple[str, ...] = ()
    when: str | None = None


@dataclass(frozen=True)
class ConditionalFacts:
    when: str
    facts: tuple[str, ...]


@dataclass(frozen=True)
class ResultField:
    """One piece of result data a department records when it approves an item (the child's
    assigned citizen ID, the licence's credit code, the date of registration...)."""

    key: str
    label: str
    label_en: str
    type: str = "text"
    required: bool = False
    max_length: int = 100
    # A citizen ID's birth date must be this date fact of the application's (the newborn's
    # assigned ID carries the child's date of birth).
    born: str = ""


@dataclass(frozen=True)
class HolderId:
    """A number that identifies a document's holder: where to read it and what to call it."""

    key: str  # a dictionary fact or a result field of an item of the case
    label: str
    label_en: str


@dataclass(frozen=True)
class Holder:
    """Whom an item's document is about (持证人): the applicant unless the item says otherwise
    (the newborn, the deceased, the enterprise). `ids` are tried in order: the first one the
    case has a value for is printed (the child's citizen ID once the police assigned it, else
    the birth certificate's number)."""

    label: str = "持证人"
    label_en: str = "Holder"
    name: str = "applicant_name"
    ids: tuple[HolderId, ...] = (
        HolderId("applicant_id_number", "公民身份号码", "Citizen ID number"),
    )


@dataclass(frozen=True)
class Item:
    code: str
    name: str
    name_en: str
    department: str
    legal_basis: str
    time_limit_days: int
    fee: str
    steps: tuple[str, ...]
    facts: tuple[str, ...]
    facts_if: tuple[ConditionalFacts, ...] = ()
    materials: tuple[Material, ...] = ()
    when: str | None = None
    in_person: bool = False  # needs the applicant present even in the combined application
    reject_reasons: tuple[str, ...] = ()
    source_file: str = ""
    # The kind of document the item issues (出生医学证明, 营业执照…), naming its result file;
    # empty: the item's name stands for it.
    document: str = ""
    document_en: str = ""
    holder: Holder = Holder()
    results: tuple[ResultField, ...] = ()  # what the department records when approving
    legal_basis_en: str = ""  # the legal basis in English (pages show it; the PDF stays Chinese)

    @property
    def fact_keys(self) -> tuple[str, ...]:
        """Every fact the item may ask for, its conditional ones included."""
        return tuple(dict.fromkeys([*self.facts, *(k for g in self.facts_if for k in g.facts)]))


# Registry events that may offer a matter (services/offers), each with the people of the event
# it may be offered to: a birth to the child's parents, a retirement date to the person, a
# death to the next of kin, a business licence to its owner (legal representative).
OFFER_EVENTS: dict[str, tuple[str, ...]] = {
    "birth_recorded": ("parents",),
    "retirement_due": ("person",),
    "death_recorded": ("next_of_kin",),
    "business_licensed": ("owner",),
}
OFFER_MAX_DAYS = 365


@dataclass(frozen=True)
class OfferRule:
    """A matter's `[[offer]]`: the registry event that offers it, to whom, for how many days."""

    event: str
    to: str
    expires_days: int = 30


@dataclass(frozen=True)
class Matter:
    code: str
    name: str
    name_en: str
    summary: str
    summary_en: str
    bpmn: str
    process_id: str
    subjects: tuple[str, ...]
    items: tuple[str, ...]
    published: bool = True
    # The facts that say what an application is about (the newborn's birth certificate
    # number, the deceased's ID...): one open or granted case per matter and subject.
    subject_key: tuple[str, ...] = ()
    # Conditions an administrator set for items of this matter, (item code, expression); an
    # empty expression means the item always applies. Items not named keep the catalog's `when`.
    conditions: tuple[tuple[str, str], ...] = ()
    # The registry events that offer this matter without an application (免申即享)
    offers: tuple[OfferRule, ...] = ()

    def condition_of(self, item: Item) -> str | None:
        """When `item` applies to an application for this matter (None: always)."""
        for code, expression in self.conditions:
            if code == item.code:
                return expression or None
        return item.when


@dataclass
class Catalog:
    departments: dict[str, Department] = field(default_factory=dict)
    subjects: dict[str, Subject] = field(default_factory=dict)
    facts: dict[str, Fact] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    matters: dict[str, Matter] = field(default_factory=dict)

    def matter(self, code: str) -> Matter:
        return self.matters[code]

    def items_of(self, matter: Matter) -> list[Item]:
        return [self.items[code] for code in matter.items]


def _read(path: Path, problems: list[str]) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path.name}: not valid TOML: {exc}")
        return {}


def _check_expr(where: str, expression: str | None, problems: list[str]) -> None:
    if expression is None:
        return
    for message in check_expression(expression):
        problems.append(f"{where}: condition {expression!r}: {message}")


def _load_dictionary(catalog: Catalog, raw: dict, problems: list[str]) -> None:
    name = "dictionary.toml"
    for code, data in raw.get("subjects", {}).items():
        catalog.subjects[code] = Subject(
            code, data["label"], data.get("label_en", data["label"]), data.get("order", 50)
        )
    for key, data in raw.get("facts", {}).items():
        where = f"{name}: fact {key}"
        if not key.isidentifier():
            problems.append(f"{where}: the key must be a Python identifier")
        missing = [name for name in ("subject", "label", "type") if name not in data]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        if data["type"] not in FACT_TYPES:
            problems.append(f"{where}: unknown type {data['type']!r}")
        if data["subject"] not in catalog.subjects:
            problems.append(f"{where}: unknown subject {data['subject']!r}")
        options = tuple(
            Option(str(o["value"]), o["label"], o.get("label_en", o["label"]))
            for o in data.get("options", [])
        )
        if data["type"] == "enum" and not options:
            problems.append(f"{where}: an enum needs options")
        _check_expr(where, data.get("required_if"), problems)
        if data.get("source") and data["source"] not in REGISTRIES:
            problems.append(f"{where}: unknown source registry {data['source']!r}")
        catalog.facts[key] = Fact(
            key=key,
            subject=data["subject"],
            label=data["label"],
            label_en=data.get("label_en", data["label"]),
            type=data["type"],
            source=data.get("source"),
            options=options,
            help=data.get("help", ""),
            help_en=data.get("help_en", ""),
            required_if=data.get("required_if"),
            optional=bool(data.get("optional", False)),
        )


def _load_item(catalog: Catalog, data: dict, source: str, problems: list[str]) -> None:
    code = data.get("code", "?")
    where = f"{source}: item {code}"
    required = ("code", "name", "department", "time_limit_days", "facts")
    missing = [name for name in required if name not in data]
    if missing:
        problems.append(f"{where}: missing {', '.join(missing)}")
        return
    if code in catalog.items:
        problems.append(f"{where}: duplicate item code (also in {catalog.items[code].source_file})")
    if data["department"] not in catalog.departments:
        problems.append(f"{where}: unknown department {data['department']!r}")
    if data.get("legal_basis") and not data.get("legal_basis_en"):
        problems.append(f"{where}: a legal_basis needs its English rendering, legal_basis_en")
    facts = tuple(data["facts"])
    conditional = tuple(
        ConditionalFacts(c["when"], tuple(c["facts"])) for c in data.get("facts_if", [])
    )
    for group in conditional:
        _check_expr(where, group.when, problems)
    for key in facts + tuple(k for group in conditional for k in group.facts):
        if key not in catalog.facts:
            problems.append(f"{where}: fact {key!r} is not in the data dictionary")
    materials = []
    for m in data.get("materials", []):
        evidence = tuple(m.get("evidence", ()))
        for key in evidence:
            if key not in catalog.facts:
                problems.append(f"{where}: material {m.get('code')}: unknown evidence {key!r}")
        if m.get("source") and m["source"] not in REGISTRIES:
            problems.append(f"{where}: material {m.get('code')}: unknown source {m['source']!r}")
        if m.get("source") and not evidence:
            problems.append(f"{where}: material {m.get('code')}: a sourced material needs evidence")
        _check_expr(where, m.get("when"), problems)
        materials.append(
            Material(
                m["code"],
                m["name"],
                m.get("name_en", m["name"]),
                m.get("source"),
                evidence,
                m.get("when"),
            )
        )
    _check_expr(where, data.get("when"), problems)
    days = data["time_limit_days"]
    if not isinstance(days, int) or days < 0:
        problems.append(f"{where}: time_limit_days must be a whole number of working days")
    results = _result_fields(data.get("results", []), where, catalog, problems)
    holder = _holder(data.get("holder"), where, problems)
    catalog.items[code] = Item(
        code=code,
        name=data["name"],
        name_en=data.get("name_en", data["name"]),
        department=data["department"],
        legal_basis=data.get("legal_basis", ""),
        legal_basis_en=data.get("legal_basis_en", ""),
        time_limit_days=days,
        fee=data.get("fee", "免费"),
        steps=tuple(data.get("steps", ())),
        facts=facts,
        facts_if=conditional,
        materials=tuple(materials),
        when=data.get("when"),
        in_person=bool(data.get("in_person", False)),
        reject_reasons=tuple(data.get("reject_reasons", DEFAULT_REJECT_REASONS)),
        source_file=source,
        document=data.get("document", ""),
        document_en=data.get("document_en", data.get("document", "")),
        holder=holder,
        results=results,
    )


def _result_fields(
    raw: list[dict], where: str, catalog: Catalog, problems: list[str]
) -> tuple[ResultField, ...]:
    """An item's `results`: each a key (an identifier no dictionary fact has), labels, a type
    of RESULT_TYPES, whether required, the most characters."""
    fields: list[ResultField] = []
    for entry in raw:
        key = str(entry.get("key", ""))
        here = f"{where}: result {key or '?'}"
        if not key.isidentifier():
            problems.append(f"{here}: the key must be a Python identifier")
            continue
        if key in catalog.facts:
            problems.append(f"{here}: the key is a dictionary fact; results need their own keys")
        if "label" not in entry:
            problems.append(f"{here}: missing label")
            continue
        kind = entry.get("type", "text")
        if kind not in RESULT_TYPES:
            problems.append(f"{here}: unknown type {kind!r}")
        limit = entry.get("max_length", 18 if kind in ("citizen_id", "uscc") else 100)
        if not isinstance(limit, int) or not 1 <= limit <= 200:
            problems.append(f"{here}: max_length must be a whole number from 1 to 200")
            limit = 100
        if key in (f.key for f in fields):
            problems.append(f"{here}: duplicate result key")
        born = entry.get("born", "")
        if born and (
            kind != "citizen_id" or getattr(catalog.facts.get(born), "type", "") != "date"
        ):
            problems.append(f"{here}: born names a date fact, for a citizen_id only")
        fields.append(
            ResultField(
                key=key,
                label=entry["label"],
                label_en=entry.get("label_en", entry["label"]),
                type=kind,
                required=bool(entry.get("required", False)),
                max_length=limit,
                born=born,
            )
        )
    return tuple(fields)


def _holder(raw: dict | None, where: str, problems: list[str]) -> Holder:
    """An item's `holder`: label, name (a key) and one or more id keys with their labels
    (`id`/`id_label`/`id_label_en`, each a string or lists of one length). Keys are checked
    once every item is read (`_check_holders`)."""
    if raw is None:
        return Holder()

    def listed(name: str) -> list[str]:
        value = raw.get(name, [])
        return [value] if isinstance(value, str) else list(value)

    keys, labels = listed("id"), listed("id_label")
    labels_en = listed("id_label_en") or labels
    if not keys or len(labels) != len(keys) or len(labels_en) != len(keys):
        problems.append(f"{where}: holder needs id and id_label (and id_label_en) of one length")
        return Holder()
    if "name" not in raw or "label" not in raw:
        problems.append(f"{where}: holder needs a label and a name")
        return Holder()
    return Holder(
        label=raw["label"],
        label_en=raw.get("label_en", raw["label"]),
        name=raw["name"],
        ids=tuple(HolderId(*row) for row in zip(keys, labels, labels_en, strict=True)),
    )


def _check_holders(catalog: Catalog, problems: list[str]) -> None:
    """A holder's name and ids are dictionary facts or result data some item records; one
    result key means one type in every item that records it."""
    recorded: dict[str, ResultField] = {}
    for item in catalog.items.values():
        for result in item.results:
            earlier = recorded.setdefault(result.key, result)
            if earlier.type != result.type:
                problems.append(
                    f"{item.source_file}: item {item.code}: result {result.key} is a "
                    f"{result.type} here but a {earlier.type} elsewhere"
                )
    for item in catalog.items.values():
        for key in (item.holder.name, *(i.key for i in item.holder.ids)):
            if key not in catalog.facts and key not in recorded:
                problems.append(
                    f"{item.source_file}: item {item.code}: holder names unknown fact {key!r} "
                    "(neither in the data dictionary nor an item's results)"
                )


def _load_matter(catalog: Catalog, data: dict, where: str, problems: list[str]) -> None:
    missing = [n for n in ("code", "name", "items") if n not in data]
    if missing:
        problems.append(f"{where}: missing {', '.join(missing)}")
        return
    for code in data["items"]:
        if code not in catalog.items:
            problems.append(f"{where}: unknown item {code!r}")
    for key in data.get("subject_key", ()):
        if key not in catalog.facts:
            problems.append(f"{where}: subject_key names unknown fact {key!r}")
    catalog.matters[data["code"]] = Matter(
        code=data["code"],
        name=data["name"],
        name_en=data.get("name_en", data["name"]),
        summary=data.get("summary", ""),
        summary_en=data.get("summary_en", ""),
        # A matter made in the browser has no file: it routes by its deployed process, or
        # until there is one by the plain process drawn from its items (services/processes.py)
        bpmn=data.get("bpmn", ""),
        process_id=data.get("process_id", data["code"]),
        subjects=tuple(data.get("subjects", ("applicant",))),
        items=tuple(data["items"]),
        published=bool(data.get("published", True)),
        subject_key=tuple(data.get("subject_key", ())),
        offers=_offer_rules(data.get("offer", []), where, problems),
    )


def _offer_rules(raw: object, where: str, problems: list[str]) -> tuple[OfferRule, ...]:
    """A matter's `[[offer]]` tables: a known event kind, a recipient that kind knows, whole
    expiry days from 1 to OFFER_MAX_DAYS, each event once."""
    if not isinstance(raw, list):
        problems.append(f"{where}: offer must be a list of tables ([[offer]])")
        return ()
    rules: list[OfferRule] = []
    for entry in raw:
        if not isinstance(entry, dict):
            problems.append(f"{where}: offer must be a list of tables ([[offer]])")
            continue
        unknown = set(entry) - {"event", "to", "expires_days"}
        if unknown:
            problems.append(f"{where}: offer: unknown keys {sorted(unknown)}")
        event = entry.get("event")
        if event not in OFFER_EVENTS:
            problems.append(
                f"{where}: offer: unknown event {event!r} (known: {', '.join(OFFER_EVENTS)})"
            )
            continue
        to = entry.get("to", OFFER_EVENTS[event][0])
        if to not in OFFER_EVENTS[event]:
            problems.append(
                f"{where}: offer: event {event} cannot be offered to {to!r} "
                f"(only {', '.join(OFFER_EVENTS[event])})"
            )
            continue
        days = entry.get("expires_days", 30)
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= OFFER_MAX_DAYS:
            problems.append(
                f"{where}: offer: expires_days must be a whole number from 1 to {OFFER_MAX_DAYS}"
            )
            continue
        if any(rule.event == event for rule in rules):
            problems.append(f"{where}: offer: event {event} is declared twice")
            continue
        rules.append(OfferRule(event, to, days))
    return tuple(rules)


def read_document(directory: Path = CATALOG_DIR) -> dict:
    """The catalog files as one document: {"subjects", "facts", "items", "matters"}, each a
    mapping by code of the entries as the files spell them (an item also names its file,
    `file`, so that an export writes it back there). Raises CatalogError for unreadable files."""
    problems: list[str] = []
    dictionary = _read(directory / "dictionary.toml", problems)
    items: dict[str, dict] = {}
    for path in sorted((directory / "items").glob("*.toml")):
        for data in _read(path, problems).get("item", []):
            code = data.get("code", "?")
            if code in items:
                problems.append(f"items/{path.name}: item {code}: duplicate item code")
            items[code] = {**data, "file": f"items/{path.name}"}
    matters: dict[str, dict] = {}
    for path in sorted((directory / "matters").glob("*.toml")):
        data = _read(path, problems)
        if data:
            matters[data.get("code", path.stem)] = {**data, "file": f"matters/{path.name}"}
    if problems:
        raise CatalogError(problems)
    return {
        "subjects": dictionary.get("subjects", {}),
        "facts": dictionary.get("facts", {}),
        "items": items,
        "matters": matters,
    }


def read_departments(directory: Path = CATALOG_DIR) -> dict[str, Department]:
    """The departments of departments.toml, in file order."""
    problems: list[str] = []
    raw = _read(directory / "departments.toml", problems)
    if problems:
        raise CatalogError(problems)
    city, city_en = raw.get("city", ""), raw.get("city_en", "")
    return {
        d["code"]: Department(
            d["code"],
            d["name"],
            d.get("name_en", ""),
            city=city,
            city_en=city_en,
            official_name=d.get("full_name", ""),
            official_name_en=d.get("full_name_en", ""),
        )
        for d in raw.get("department", [])
    }


def build_catalog(document: dict, departments: dict[str, Department]) -> Catalog:
    """Cross-check a catalog document (see `read_document`) against `departments` and build
    the catalog; raise `CatalogError` with every problem found, each naming its entry."""
    problems: list[str] = []
    catalog = Catalog(departments=dict(departments))
    _load_dictionary(
        catalog, {"subjects": document["subjects"], "facts": document["facts"]}, problems
    )
    for code, data in document["items"].items():
        _load_item(catalog, data, data.get("file") or f"item {code}", problems)
    _check_holders(catalog, problems)
    for code, data in document["matters"].items():
        _load_matter(catalog, data, data.get("file") or f"matter {code}", problems)
    if problems:
        raise CatalogError(problems)
    return catalog


def load_catalog(directory: Path = CATALOG_DIR) -> Catalog:
    """Read and cross-check every catalog file; raise `CatalogError` with all problems found."""
    return build_catalog(read_document(directory), read_departments(directory))


def copy_catalog(catalog: Catalog) -> Catalog:
    """A catalog whose mappings are its own (the entries themselves are immutable): a runtime
    changes its copy when administrators edit the catalog, never the shared one."""
    return Catalog(
        departments=dict(catalog.departments),
        subjects=dict(catalog.subjects),
        facts=dict(catalog.facts),
        items=dict(catalog.items),
        matters=dict(catalog.matters),
    )


@cache
def default_catalog() -> Catalog:
    """The catalog shipped in `forms/catalog/`, loaded once per process."""
    return load_catalog(CATALOG_DIR)
