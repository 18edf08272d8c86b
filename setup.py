"""The packaging hook (the metadata is in pyproject.toml): a built wheel carries what the app
reads at run time from outside its Python packages in a checkout, so that it serves from any
machine the wheel is installed on.

- The process definitions: bpmn/*.bpmn and *.dmn, with the decision tables' seeded test cases
  (*.dmn.tests.toml; the checkout keeps them at the top) go to services/bpmn/, where
  `services.config` finds them when there is no checkout.
- The process editor's browser assets: bpmn-js's built modeler and its style sheets, which a
  checkout serves from node_modules after `npm ci`, go to web/static/vendor/bpmn-js/
  (`VENDOR_BPMN_JS` in web/routes/processes.py). `npm ci` runs first when node_modules lacks them (package-lock.json pins the
  version). Likewise dmn-js's modeler, the decision table's style sheets and their font go to
  web/static/vendor/dmn-js/ (`VENDOR_DMN_JS` in web/routes/decisions.py).

Both are copied into the build directory only, never into the source tree; an editable
install (`pip install -e .`) copies nothing: it serves from the checkout itself.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DEFINITIONS = ROOT / "bpmn"
DEFINITION_PATTERNS = ("*.bpmn", "*.dmn", "*.dmn.tests.toml")
BPMN_JS_DIST = ROOT / "node_modules" / "bpmn-js" / "dist"
# What web/templates/admin/editor.html loads: the modeler and the style sheets with their font.
BPMN_JS_FILES = ("bpmn-modeler.production.min.js", "assets")
DMN_JS_DIST = ROOT / "node_modules" / "dmn-js" / "dist"
# What web/templates/admin/decision.html loads: the modeler, the decision table's style sheets
# and the font they use (not the DRD or literal-expression views' assets).
DMN_JS_FILES = (
    "dmn-modeler.production.min.js",
    "assets/dmn-js-shared.css",
    "assets/dmn-js-decision-table.css",
    "assets/dmn-js-decision-table-controls.css",
    "assets/dmn-font",
)


class BuildWithAssets(build_py):
    """build_py, then the process definitions and the editor's assets into the build."""

    def run(self) -> None:
        super().run()
        if self.editable_mode or self.dry_run:
            return
        build = Path(self.build_lib)
        self._copy_definitions(build / "services" / "bpmn")
        vendor = build / "web" / "static" / "vendor"
        self._copy_editor_assets(BPMN_JS_DIST, BPMN_JS_FILES, vendor / "bpmn-js")
        self._copy_editor_assets(DMN_JS_DIST, DMN_JS_FILES, vendor / "dmn-js")

    def _copy_definitions(self, target: Path) -> None:
        files = sorted(f for pattern in DEFINITION_PATTERNS for f in DEFINITIONS.glob(pattern))
        if not files:
            raise SystemExit(f"onething build: no process definitions in {DEFINITIONS}")
        target.mkdir(parents=True, exist_ok=True)
        for source in files:
            self.copy_file(str(source), str(target / source.name))

    def _copy_editor_assets(self, dist: Path, files: tuple[str, ...], target: Path) -> None:
        if not (dist / files[0]).is_file():
            _install_node_modules(dist / files[0])
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name in files:
            source = dist / name
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                self.copy_tree(str(source), str(target / name))
            else:
                self.copy_file(str(source), str(target / name))


def _install_node_modules(needed: Path) -> None:
    """`npm ci`: the browser assets package-lock.json pins, into node_modules."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "onething build: the process editor's assets (bpmn-js) are not in node_modules and "
            "npm is not installed to fetch them. Install Node.js and npm (Debian: "
            "`apt-get install npm`), or run `npm ci` where npm is, then build again."
        )
    print("onething build: running npm ci for the editor's assets (bpmn-js)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)
    if not needed.is_file():
        raise SystemExit(f"onething build: npm ci did not install {needed}")


setup(cmdclass={"build_py": BuildWithAssets})
