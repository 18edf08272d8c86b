"""Matters over the API: the published list, the consent asked before any lookup, and each
matter's combined form as data (facts with their types, options, rules and conditions, what
the registries supplied and from where, the items and the materials), re-evaluated for the
answers so far in one call."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from forms.catalog import Fact
from forms.compiler import (
    FACT_RULES,
    CompiledForm,
    Known,
    fact_conditions,
    material_conditions,
)
from forms.sources import registry_name
from forms.values import FieldError
from services.accounts.models import User
from services.cases import submission
from services.cases.schemas import (
    ChecklistMaterial,
    ConditionalMaterial,
    ConsentPublic,
    DepartmentRef,
    FactPublic,
    FieldMessage,
    FormAnswers,
    FormPublic,
    ItemApplicability,
    LookupFact,
    MatterItemRef,
    MatterPublic,
    OptionPublic,
    Provenance,
    RegistryLookup,
    SectionPublic,
    UploadRules,
    Validation,
)
from services.cases.uploads import ACCEPTED_TYPES
from services.configuration.matters import published_matters
from services.runtime import Runtime
from web.api.routing import PREFIX, api_router
from web.deps import CitizenUser, Code, CsrfChecked, RuntimeDep, SessionDep, read_only

router = api_router(tags=["api: matters"])
BOOL_OPTIONS = (
    OptionPublic(value=True, label="是", label_en="Yes"),
    OptionPublic(value=False, label="否", label_en="No"),
)


@router.get("/matters", response_model=list[MatterPublic])
@read_only
def matters(session: SessionDep, rt: RuntimeDep):
    """The matters (一件事) open for application now, each with its items and departments (no
    sign-in needed)."""
    found = []
    for matter in published_matters(session, rt):
        items = rt.catalog.items_of(matter)
        departments = dict.fromkeys(item.department for item in items)
        found.append(
            MatterPublic(
                code=matter.code,
                name=matter.name,
                name_en=matter.name_en,
                summary=matter.summary,
                summary_en=matter.summary_en,
                items=[
                    MatterItemRef(
                        code=item.code,
                        name=item.name,
                        name_en=item.name_en,
                        department=item.department,
                    )
                    for item in items
                ],
                departments=[
                    DepartmentRef(
                        code=code,
                        name=rt.catalog.departments[code].name,
                        name_en=rt.catalog.departments[code].name_en,
                    )
                    for code in departments
                ],
                form_url=f"{PREFIX}/matters/{matter.code}/form",
            )
        )
    return found


@router.get("/matters/{code}/consent", response_model=ConsentPublic)
def consent_asked(code: Code, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    """What the applicant is asked to authorize before any registry lookup (which registries,
    for which facts), and whether a current authorization exists."""
    return _consent_public(submission.consent_request(session, rt, user=user, matter_code=code))


@router.post("/matters/{code}/consent", response_model=ConsentPublic, dependencies=[CsrfChecked])
def consent(code: Code, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    """The applicant authorizes the matter's registry lookups (for `hours`): the form is then
    prefilled (each fact with its source), and the registries read once per application, every
    read logged (`GET /api/v1/me/data-access`)."""
    submission.authorize_lookups(session, rt, user=user, matter_code=code)
    return _consent_public(submission.consent_request(session, rt, user=user, matter_code=code))


def _consent_public(asked: submission.ConsentRequest) -> ConsentPublic:
    matter = asked.matter
    return ConsentPublic(
        matter=matter.code,
        name=matter.name,
        name_en=matter.name_en,
        text=FieldMessage(zh=asked.text[0], en=asked.text[1]),
        lookups=[
            RegistryLookup(
                registry=code,
                name=registry_name(code),
                name_en=registry_name(code, "en"),
                facts=[LookupFact(key=f.key, label=f.label, label_en=f.label_en) for f in facts],
            )
            for code, facts in asked.lookups.items()
        ],
        hours=asked.hours,
        granted=asked.consent is not None,
        granted_at=asked.consent.granted_at if asked.consent else None,
        expires_at=asked.consent.expires_at if asked.consent else None,
    )


@router.get("/matters/{code}/form", response_model=FormPublic)
def form(code: Code, user: CitizenUser, session: SessionDep, rt: RuntimeDep, manual: bool = False):
    """The combined form as data, prefilled from the registries (each fact with its registry,
    record and time) once the applicant authorized the lookups (`POST .../consent`), unless
    `manual`; otherwise nothing is prefilled and every fact and material is asked."""
    return _form(session, rt, user, code, {}, manual)


@router.post("/matters/{code}/form", response_model=FormPublic, dependencies=[CsrfChecked])
def evaluate_form(
    code: Code, body: FormAnswers, user: CitizenUser, session: SessionDep, rt: RuntimeDep
):
    """The form for the answers so far, in one call: the items, facts and materials their
    conditions switch on, and the answers' format errors (nothing is submitted or kept). A key
    that is not a fact of the matter is refused (422, naming it); answers for registry facts
    are ignored (listed in `ignored_answers`)."""
    return _form(session, rt, user, code, body.answers, body.manual)


def _form(
    session: Session, rt: Runtime, user: User, code: str, answers: dict[str, Any], manual: bool
) -> FormPublic:
    consented = submission.lookups_consented(session, user=user, matter_code=code, manual=manual)
    compiled = submission.prepare_form(
        session, rt, user=user, matter_code=code, answers=answers, consented=consented
    )
    return form_public(compiled, rt)


def form_public(form: CompiledForm, rt: Runtime) -> FormPublic:
    """The compiled form as data (what the application form page shows, with the conditions
    that make it): for the applicant's own form and the front desk's walk-in applicant's."""
    catalog, matter = rt.catalog, form.matter
    facts_when = fact_conditions(catalog, matter)
    materials_when = material_conditions(catalog, matter)
    asked = {f.key for f in form.fields}
    types, most = accepted_types(), rt.settings.upload_limit_bytes
    all_items = catalog.items_of(matter)
    asking: dict[str, list[str]] = {}  # fact key -> the items that may ask it
    needing: dict[str, list[str]] = {}  # material code -> the items that may need it
    materials = {}
    for item in all_items:
        for key in item.fact_keys:
            asking.setdefault(key, []).append(item.code)
        for material in item.materials:
            needing.setdefault(material.code, []).append(item.code)
            materials.setdefault(material.code, material)
    listed = {entry.code for entry in form.checklist}
    return FormPublic(
        matter=matter.code,
        name=matter.name,
        name_en=matter.name_en,
        prefilled=any(f.known is not None for f in form.fields),
        notices=[FieldMessage(zh=zh, en=en) for zh, en in form.notices],
        sections=[
            SectionPublic(
                code=section.code,
                title=section.title,
                title_en=section.title_en,
                facts=[
                    fact_public(
                        f.fact,
                        value=f.value,
                        known=f.known,
                        required=f.required,
                        items=f.item_codes,
                        condition=facts_when.get(f.key),
                        error=f.error,
                    )
                    for f in section.fields
                ],
            )
            for section in form.sections
        ],
        conditional_facts=[
            fact_public(
                catalog.facts[key],
                value=None,
                known=None,
                required=False,
                items=asking.get(key, []),
                condition=condition,
            )
            for key, condition in facts_when.items()
            if key not in asked
        ],
        items=[
            ItemApplicability(
                code=item.code,
                name=item.name,
                name_en=item.name_en,
                department=item.department,
                department_name=catalog.departments[item.department].name,
                department_name_en=catalog.departments[item.department].name_en,
                time_limit_days=item.time_limit_days,
                in_person=item.in_person,
                applies=item in form.items,
                condition=matter.condition_of(item),
            )
            for item in all_items
        ],
        checklist=[
            ChecklistMaterial(
                code=entry.code,
                name=entry.name,
                name_en=entry.name_en,
                items=list(entry.items),
                status=entry.status,
                reason=entry.reason,
                reason_en=entry.reason_en,
                registry=entry.registry,
                condition=materials_when.get(entry.code),
                accepted_types=types,
                max_bytes=most,
            )
            for entry in form.checklist
        ],
        conditional_materials=[
            ConditionalMaterial(
                code=code,
                name=material.name,
                name_en=material.name_en,
                items=needing[code],
                condition=materials_when[code],
            )
            for code, material in materials.items()
            if code not in listed
        ],
        upload=UploadRules(url=f"{PREFIX}/uploads", accepted_types=types, max_bytes=most),
        errors={e.key: FieldMessage(zh=e.message, en=e.message_en) for e in form.errors},
        ignored_answers=list(form.ignored),
    )


def accepted_types() -> list[str]:
    """The media types accepted for materials (recognised by content)."""
    return sorted(set(ACCEPTED_TYPES.values()))


def fact_public(
    fact: Fact,
    *,
    value: Any,
    known: Known | None,
    required: bool,
    items: list[str],
    condition: str | None = None,
    error: FieldError | None = None,
) -> FactPublic:
    """One fact of a form as data: its type, options and rules, and its value so far."""
    rules = FACT_RULES[fact.type]
    if fact.type == "bool":
        options = list(BOOL_OPTIONS)
    else:
        options = [
            OptionPublic(value=o.value, label=o.label, label_en=o.label_en) for o in fact.options
        ]
    return FactPublic(
        key=fact.key,
        label=fact.label,
        label_en=fact.label_en,
        type=fact.type,
        help=fact.help,
        help_en=fact.help_en,
        options=options,
        validation=Validation(
            format=rules.format,
            description=rules.description,
            description_en=rules.description_en,
            pattern=rules.pattern,
            strip=rules.strip,
            checksum=rules.checksum,
            max_length=rules.max_length,
        ),
        required=required,
        required_if=fact.required_if,
        optional=fact.optional,
        condition=condition,
        value=value,
        readonly=known is not None,
        provenance=provenance_public(known) if known is not None else None,
        items=items,
        error=FieldMessage(zh=error.message, en=error.message_en) if error else None,
    )


def provenance_public(known: Known) -> Provenance:
    return Provenance(
        registry=known.registry,
        registry_name=registry_name(known.registry),
        registry_name_en=registry_name(known.registry, "en"),
        record_id=known.record_id,
        retrieved_at=known.retrieved_at,
    )
