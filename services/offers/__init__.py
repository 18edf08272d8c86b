"""Registry events and the offers they start (issue 22)."""
