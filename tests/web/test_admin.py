"""The burden figures: computed from the catalog, printed by the CLI, shown to administrators only."""

from __future__ import annotations

from forms.burden import burden, trips_alone
from forms.catalog import default_catalog
from tests.web.conftest import MOTHER
from web.cli import main


def test_newborn_figures_are_computed_from_its_items():
    catalog = default_catalog()
    matter = catalog.matter("newborn")
    items = catalog.items_of(matter)
    figures = burden(catalog, matter)
    assert figures.items == len(matter.items) and figures.departments == 5
    assert figures.facts_separately == sum(len(set(i.facts)) for i in items)
    assert figures.facts_combined == len({k for i in items for k in i.facts})
    assert figures.facts_combined < figures.facts_separately
    assert figures.materials_combined == len({m.code for i in items for m in i.materials})
    assert figures.trips_separately == sum(trips_alone(i) for i in items)
    assert figures.trips_combined == 0 and figures.steps_combined == 1


def test_report_command_prints_every_matter(capsys):
    assert main(["matters", "report"]) == 0
    out = capsys.readouterr().out
    for code in default_catalog().matters:
        assert code in out
    assert "average per matter" in out


def test_admin_sees_figures_and_case_counts_others_do_not(browser):
    admin = browser("admin").get("/admin")
    assert admin.status_code == 200 and 'data-matter="newborn"' in admin.text
    assert browser(MOTHER).get("/admin").status_code == 403
    assert browser("police01").get("/admin").status_code == 403
