"""Shared-data registries (共享数据库): typed records, the embedded demo registry, prefill."""
