"""Prometheus metrics at /metrics (placeholder: the metrics work fills it in)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["operations"])
