"""Tables: Acting for someone else, 代办: authorizations (issue 22)."""

from __future__ import annotations
