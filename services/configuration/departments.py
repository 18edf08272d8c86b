"""Placeholder: filled in by the configuration work of issue 7."""
