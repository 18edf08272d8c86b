"""The site's icon: every page names it, and a browser's own /favicon.ico request finds it."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_pages_name_the_icon_and_favicon_ico_leads_to_it(app):
    client = TestClient(app, follow_redirects=False)
    page = client.get("/login").text
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    asked = client.get("/favicon.ico")
    assert asked.status_code == 301 and asked.headers["location"] == "/static/favicon.svg"
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.content.startswith(b"<svg ") and len(icon.content) < 2048
    assert "no-store" not in icon.headers.get("cache-control", "")  # cached as assets are
