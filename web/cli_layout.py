"""`onething bpmn layout FILE...`: lay a process file's diagram out anew (engine.layout), with
its lanes named after the catalog's departments and bound to their codes."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_layout_command(commands: argparse._SubParsersAction) -> None:
    """Register `bpmn layout` on the `onething` parser."""
    bpmn = commands.add_parser("bpmn", help="process files")
    bpmn_commands = bpmn.add_subparsers(dest="bpmn_command", required=True)
    layout = bpmn_commands.add_parser(
        "layout",
        help="lay out the diagram (lanes kept, nothing on anything else) and name the lanes "
        "after their departments; the process itself is not changed",
    )
    layout.add_argument("files", nargs="+", type=Path)
    layout.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 when a file would change"
    )
    layout.set_defaults(run=_layout)


def _layout(args: argparse.Namespace) -> int:
    from engine.layout import bind_lanes, layout
    from forms.catalog import default_catalog
    from services.process_skeleton import APPLICANT_LANE, APPLICANT_LANE_NAME

    names = {code: d.name for code, d in default_catalog().departments.items()}
    names[APPLICANT_LANE] = APPLICANT_LANE_NAME
    changed = 0
    for path in args.files:
        content = path.read_bytes()
        result = layout(bind_lanes(content, names))
        if result != content:
            changed += 1
            if not args.check:
                path.write_bytes(result)
            print(f"{path}: {'would be laid out' if args.check else 'laid out'}")
    return 1 if args.check and changed else 0
