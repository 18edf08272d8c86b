"""The JSON API, one module per resource; `web.api.v1` gathers them under `/api/v1`."""
