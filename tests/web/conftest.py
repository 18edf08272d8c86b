"""HTTP fixtures: a TestClient per signed-in user, through the real login form."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from demo.seed import DEMO_PASSWORD
from web.app import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LOGIN_CSRF = re.compile(r'id="login-csrf" value="([^"]+)"')


def post_login(client: TestClient, username: str, password: str = DEMO_PASSWORD, **fields):
    """Post the sign-in form as a browser does: the page first, for its CSRF token."""
    token = LOGIN_CSRF.search(client.get("/login").text).group(1)
    data = {"username": username, "password": password, "csrf_token": token, **fields}
    return client.post("/login", data=data)


MOTHER = "31010519940908028X"  # 王芳: employee maternity insurance, child named
FATHER = "310104199511020172"  # 张磊: wife on resident insurance, child not named yet
OTHER_CITIZEN = "310110198910220510"  # 李明 (school enrollment demo)
NEWBORN_DEPARTMENTS = ("health", "police", "medical", "hrss", "cdc")


class Browser:
    """A signed-in client that remembers the page's CSRF token like a browser form would."""

    def __init__(self, client: TestClient):
        self.client = client
        self.csrf = ""

    def get(self, url: str, **kwargs):
        response = self.client.get(url, **kwargs)
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, url: str, data: dict | None = None, **kwargs):
        return self.client.post(url, data={**(data or {}), "csrf_token": self.csrf}, **kwargs)

    def consent(self, matter: str) -> None:
        """Authorize the matter's registry lookups, as the consent page asks first."""
        page = self.get(f"/matters/{matter}/apply")
        assert 'id="consent"' in page.text
        assert self.post(f"/matters/{matter}/consent").status_code == 303


@pytest.fixture
def app(rt):
    return create_app(rt)


def signed_in(app, username: str, opened: list[TestClient]) -> Browser:
    """A browser signed in to `app` as `username`; its client is added to `opened` to close."""
    client = TestClient(app, follow_redirects=False)
    opened.append(client)
    response = post_login(client, username)
    assert response.status_code == 303, response.text
    b = Browser(client)
    b.get("/")
    return b


@pytest.fixture
def browser(app):
    """Sign in as a demo account: `browser("police01")`."""
    opened: list[TestClient] = []
    yield lambda username: signed_in(app, username, opened)
    for client in opened:
        client.close()


NEWBORN_ANSWERS = {
    "child_name": "张小满",
    "household_parent": "father",
    "applicant_phone": "13812345678",
    "delivery_method": "post",
    "delivery_address": "上海市徐汇区漕溪北路1号",
    "bank_name": "中国工商银行",
    "bank_card_number": "6222020200112233446",
}
