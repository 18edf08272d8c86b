"""Decision tables (DMN) in the browser: dmn-js editor pages and their test cases (JSON twins: web/api/admin_decisions.py)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["pages: admin"])
