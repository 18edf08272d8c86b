"""Administrators edit the service catalog: data-dictionary facts, service items and matters, versioned (JSON twins: web/api/admin_catalog.py)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["pages: admin"])
