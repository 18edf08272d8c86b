"""Tables: Registry events and the offers they start (issue 22)."""

from __future__ import annotations
