"""Burden figures of a matter, computed from the catalog: what applying for each item alone
costs a citizen, against the combined application (the figures city reports publish)."""

from __future__ import annotations

from dataclasses import dataclass

from forms.catalog import Catalog, Item, Matter

# A step is a trip when it sends the applicant somewhere or makes them collect something.
TRIP_MARKERS = ("到", "领取", "领卡", "面签", "现场")


@dataclass(frozen=True)
class Burden:
    matter: str
    name: str
    departments: int
    items: int
    facts_separately: int
    facts_combined: int
    facts_autofilled: int
    materials_separately: int
    materials_combined: int
    materials_exempt: int
    trips_separately: int
    trips_combined: int
    steps_separately: int
    steps_combined: int
    time_limit_separately: int
    time_limit_combined: int

    @property
    def facts_to_type(self) -> int:
        return self.facts_combined - self.facts_autofilled

    @property
    def materials_to_upload(self) -> int:
        return self.materials_combined - self.materials_exempt


def _item_facts(item: Item) -> set[str]:
    return set(item.facts) | {key for group in item.facts_if for key in group.facts}


def trips_alone(item: Item) -> int:
    """Trips a citizen makes applying for the item alone (at least one: the application)."""
    trips = sum(
        1
        for step in item.steps
        if step.startswith(TRIP_MARKERS[0]) or any(marker in step for marker in TRIP_MARKERS[1:])
    )
    return max(trips, 1)


def burden(catalog: Catalog, matter: Matter) -> Burden:
    """Figures for every item of the matter (conditional ones included)."""
    items = catalog.items_of(matter)
    facts = set().union(*(_item_facts(item) for item in items)) if items else set()
    materials = {m.code: m for item in items for m in item.materials}
    in_person = any(item.in_person for item in items)
    return Burden(
        matter=matter.code,
        name=matter.name,
        departments=len({item.department for item in items}),
        items=len(items),
        facts_separately=sum(len(_item_facts(item)) for item in items),
        facts_combined=len(facts),
        facts_autofilled=sum(1 for key in facts if catalog.facts[key].source),
        materials_separately=sum(len(item.materials) for item in items),
        materials_combined=len(materials),
        materials_exempt=sum(1 for m in materials.values() if m.source),
        trips_separately=sum(trips_alone(item) for item in items),
        trips_combined=1 if in_person else 0,
        steps_separately=sum(max(len(item.steps), 1) for item in items),
        # The applicant's steps: one combined application, plus a visit where presence is needed;
        # results come by post or electronically.
        steps_combined=1 + (1 if in_person else 0),
        time_limit_separately=sum(item.time_limit_days for item in items),
        # Departments work in parallel: the longest single item bounds the combined time limit.
        time_limit_combined=max((item.time_limit_days for item in items), default=0),
    )


def burden_report(catalog: Catalog) -> list[Burden]:
    return [burden(catalog, matter) for matter in catalog.matters.values()]


def averages(rows: list[Burden]) -> dict[str, float]:
    """Per-matter averages of the combined figures, as city reports state them."""
    if not rows:
        return {}
    count = len(rows)
    return {
        "materials": sum(r.materials_to_upload for r in rows) / count,
        "steps": sum(r.steps_combined for r in rows) / count,
        "trips": sum(r.trips_combined for r in rows) / count,
        "facts": sum(r.facts_to_type for r in rows) / count,
    }
