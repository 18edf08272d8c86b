"""Acting for someone else, 代办: authorizations (issue 22)."""
