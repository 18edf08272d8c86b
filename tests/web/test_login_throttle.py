"""Sign-in throttling (services/accounts/throttle.py) on the page form and the JSON API, shared
by every server process of one database; and the session cookie's flags."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from engine import clock
from services.accounts import service as accounts
from services.accounts.models import LoginAttempt
from services.accounts.throttle import LIMITS, username_key
from services.db import make_engine
from services.errors import Forbidden, TooManyRequests
from tests.web.conftest import FATHER, LOGIN_CSRF, MOTHER, post_login
from web.app import create_app
from web.deps import COOKIE

WRONG = "not-the-password"


def _sign_in(client: TestClient, username: str, password: str):
    return post_login(client, username, password)


def test_sixth_failed_sign_in_is_refused_with_429_and_when_to_retry(app):
    client = TestClient(app, follow_redirects=False)
    for _ in range(LIMITS.per_username):
        failed = _sign_in(client, MOTHER, WRONG)
        assert failed.status_code == 401 and "账号或密码不正确" in failed.text
    refused = _sign_in(client, MOTHER, DEMO_PASSWORD)  # even the right password, for now
    assert refused.status_code == 429
    assert 'id="login-error"' in refused.text
    # The first failure was a moment after 10:00 China time: free again after 10:15.
    assert "登录失败次数过多，请于10:16以后再试（约15分钟后）" in refused.text
    assert 890 < int(refused.headers["retry-after"]) <= 900
    assert f'value="{MOTHER}"' in refused.text  # the form keeps the username
    assert COOKIE not in refused.headers.get("set-cookie", "")


def test_the_same_username_in_another_case_counts_the_same(app):
    client = TestClient(app, follow_redirects=False)
    for typed in ("police01", "POLICE01", " Police01 ", "police01", "pOlice01"):
        assert _sign_in(client, typed, WRONG).status_code == 401
    assert _sign_in(client, "police01", DEMO_PASSWORD).status_code == 429


def test_signing_in_works_again_once_the_window_has_passed(app):
    client = TestClient(app, follow_redirects=False)
    for _ in range(LIMITS.per_username):
        _sign_in(client, MOTHER, WRONG)
    clock.advance(timedelta(minutes=14))
    refused = _sign_in(client, MOTHER, DEMO_PASSWORD)
    assert refused.status_code == 429 and "约1分钟后" in refused.text
    assert int(refused.headers["retry-after"]) <= 60
    clock.advance(timedelta(minutes=1, seconds=1))
    assert _sign_in(client, MOTHER, DEMO_PASSWORD).status_code == 303


def test_a_success_clears_the_usernames_failures(app):
    client = TestClient(app, follow_redirects=False)
    for _ in range(LIMITS.per_username - 1):
        assert _sign_in(client, MOTHER, WRONG).status_code == 401
    assert _sign_in(client, MOTHER, DEMO_PASSWORD).status_code == 303
    for _ in range(LIMITS.per_username):
        assert _sign_in(client, MOTHER, WRONG).status_code == 401
    assert _sign_in(client, MOTHER, WRONG).status_code == 429


def test_other_usernames_are_not_refused_for_one_usernames_failures(app):
    client = TestClient(app, follow_redirects=False)
    for _ in range(LIMITS.per_username + 2):
        _sign_in(client, MOTHER, WRONG)
    assert _sign_in(client, FATHER, DEMO_PASSWORD).status_code == 303


def test_failures_from_one_address_refuse_it_for_every_username(app):
    guesser = TestClient(app, follow_redirects=False, client=("203.0.113.7", 40000))
    for n in range(LIMITS.per_address):
        assert _sign_in(guesser, f"guess{n:02d}", WRONG).status_code == 401
    refused = _sign_in(guesser, FATHER, DEMO_PASSWORD)
    assert refused.status_code == 429 and "登录失败次数过多" in refused.text
    # Another address is not refused, and the guessed usernames are not locked for it.
    other = TestClient(app, follow_redirects=False, client=("198.51.100.2", 40000))
    assert _sign_in(other, FATHER, DEMO_PASSWORD).status_code == 303
    # The username signing in (elsewhere) does not clear the address's failures.
    assert _sign_in(guesser, FATHER, DEMO_PASSWORD).status_code == 429


def test_json_api_login_is_throttled_with_retry_after(app):
    client = TestClient(app)
    body = {"username": "police01", "password": WRONG}
    for _ in range(LIMITS.per_username):
        assert client.post("/api/login", json=body).status_code == 403
    body["password"] = DEMO_PASSWORD
    refused = client.post("/api/login", json=body)
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("登录失败次数过多，请于10:16以后再试")
    assert (
        "Too many failed sign-ins: try again after 10:16 China time"
        in (refused.json()["detail_en"])
    )
    assert 890 < int(refused.headers["retry-after"]) <= 900
    assert "token" not in refused.json()


def test_page_and_api_failures_count_together(app):
    client = TestClient(app, follow_redirects=False)
    for _ in range(3):
        _sign_in(client, "police01", WRONG)
    for _ in range(2):
        client.post("/api/login", json={"username": "police01", "password": WRONG})
    assert _sign_in(client, "police01", DEMO_PASSWORD).status_code == 429
    api = client.post("/api/login", json={"username": "police01", "password": DEMO_PASSWORD})
    assert api.status_code == 429


def test_attempts_are_recorded_without_passwords_or_typed_usernames(app, rt, user_of):
    client = TestClient(app, follow_redirects=False)
    typed_password = "s3cret-typed-by-mistake"
    _sign_in(client, typed_password, typed_password)  # a password typed as the username
    for _ in range(LIMITS.per_username):
        _sign_in(client, "police01", typed_password)
    _sign_in(client, "police01", DEMO_PASSWORD)
    _sign_in(client, MOTHER, DEMO_PASSWORD)
    with Session(rt.db) as session:
        rows = session.exec(select(LoginAttempt).order_by(LoginAttempt.id)).all()
    outcomes = [row.outcome for row in rows]
    assert outcomes == ["failed"] * (1 + LIMITS.per_username) + ["refused", "succeeded"]
    police = user_of("police01").id
    assert [row.user_id for row in rows] == [None] + [police] * 6 + [user_of(MOTHER).id]
    assert rows[1].username_key == username_key("police01")
    assert {row.address for row in rows} == {"testclient"}
    for row in rows:
        assert typed_password not in repr(row.model_dump()) and DEMO_PASSWORD not in repr(
            row.model_dump()
        )


def test_every_server_process_counts_the_same_failures(app, rt):
    """A second application with its own database connections, as another server process."""
    other_db = make_engine(rt.settings.db_url)
    try:
        other = create_app(dataclasses.replace(rt, db=other_db))
        first = TestClient(app, follow_redirects=False)
        second = TestClient(other, follow_redirects=False)
        for n in range(LIMITS.per_username):
            assert _sign_in(first if n % 2 else second, MOTHER, WRONG).status_code == 401
        assert _sign_in(second, MOTHER, DEMO_PASSWORD).status_code == 429
        assert _sign_in(first, MOTHER, DEMO_PASSWORD).status_code == 429
    finally:
        other_db.dispose()


def test_concurrent_guesses_check_no_more_passwords_than_the_limit(rt):
    outcomes: list[str] = []
    start = threading.Barrier(10)

    def guess() -> None:
        with Session(rt.db, expire_on_commit=False) as session:
            start.wait()
            try:
                accounts.authenticate(session, username=MOTHER, password=WRONG, address="x")
            except Forbidden:
                outcomes.append("checked")
            except TooManyRequests:
                outcomes.append("refused")

    threads = [threading.Thread(target=guess) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 10
    assert outcomes.count("checked") <= LIMITS.per_username
    with Session(rt.db) as session:
        failed = session.exec(select(LoginAttempt).where(LoginAttempt.outcome == "failed")).all()
    assert len(failed) == outcomes.count("checked")


def test_session_cookie_is_httponly_lax_for_the_whole_site_and_lasts_the_session(app, rt):
    client = TestClient(app, follow_redirects=False)
    response = _sign_in(client, MOTHER, DEMO_PASSWORD)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    flags = [flag.strip().lower() for flag in cookie.split(";")[1:]]
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert f"max-age={rt.settings.session_hours * 3600}" in flags
    assert "secure" not in flags  # settings.secure_cookies is off in development


def test_session_cookie_is_secure_when_configured(app, rt, monkeypatch):
    monkeypatch.setattr(rt.settings, "secure_cookies", True)
    client = TestClient(app, follow_redirects=False)
    cookie = _sign_in(client, MOTHER, DEMO_PASSWORD).headers["set-cookie"]
    assert "secure" in [flag.strip().lower() for flag in cookie.split(";")]


def test_logout_deletes_the_cookie_on_the_same_path_and_ends_the_session(browser, app):
    citizen = browser(MOTHER)
    token = citizen.client.cookies[COOKIE]
    response = citizen.post("/logout")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    cookie = response.headers["set-cookie"]
    flags = [flag.strip().lower() for flag in cookie.split(";")]
    assert flags[0] in (f"{COOKIE}=", f'{COOKIE}=""')
    assert "max-age=0" in flags and "path=/" in flags and "httponly" in flags
    assert "samesite=lax" in flags
    # The token no longer opens anything, even if a copy of the cookie was kept.
    stale = TestClient(app, follow_redirects=False, cookies={COOKIE: token})
    assert stale.get("/cases").status_code == 303


def test_signing_in_again_ends_the_browsers_earlier_session(app):
    client = TestClient(app, follow_redirects=False)
    _sign_in(client, MOTHER, DEMO_PASSWORD)
    earlier = client.cookies[COOKIE]
    _sign_in(client, FATHER, DEMO_PASSWORD)
    assert client.cookies[COOKIE] != earlier
    stale = TestClient(app, follow_redirects=False, cookies={COOKIE: earlier})
    assert stale.get("/cases").status_code == 303


def test_the_sign_in_form_needs_its_csrf_token(app):
    """Login CSRF: a sign-in posted without the form's token, or with another browser's, is
    refused with a fresh form and signs nobody in; the form then works."""
    victim = TestClient(app, follow_redirects=False)
    attacker = TestClient(app, follow_redirects=False)
    page = attacker.get("/login")
    attackers_token = LOGIN_CSRF.search(page.text).group(1)
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/login" in cookie

    forged = {"username": FATHER, "password": DEMO_PASSWORD}
    for data in (forged, {**forged, "csrf_token": attackers_token}):
        response = victim.post("/login", data=data)
        assert response.status_code == 403
        assert "登录页面已过期" in response.text
        assert COOKIE not in response.cookies and COOKIE not in victim.cookies
    retry = LOGIN_CSRF.search(response.text).group(1)
    response = victim.post("/login", data={**forged, "csrf_token": retry})
    assert response.status_code == 303 and victim.cookies.get(COOKIE)
