"""The burden each case measured in use (issue 22): fields typed, materials uploaded, trips,
working days; per matter, median and distribution, and the share of cases started from an offer."""

from __future__ import annotations
