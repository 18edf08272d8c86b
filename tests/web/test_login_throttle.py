"""Sign-in throttling (services/accounts/throttle.py) on the page form and the JSON API, shared
by every server process of one database; and the session and device cookies' flags.

The clock runs on in real time while a test runs, so most tests set limits whose first delay is
a minute (`slow_limits`): a slow test run cannot let an attempt through that should wait. The
attacker's side (other clients, recognised devices, proxies, pruning) is tests/security."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from engine import clock
from services.accounts import service as accounts
from services.accounts import throttle
from services.accounts.models import LoginAttempt
from services.accounts.throttle import LIMITS, username_key
from services.db import make_engine
from services.errors import Forbidden, TooManyRequests
from tests.web.conftest import FATHER, LOGIN_CSRF, MOTHER, post_login
from web.app import create_app
from web.deps import COOKIE
from web.routes.auth import DEVICE_COOKIE

WRONG = "not-the-password"
FREE = LIMITS.free_failures
# Delays of 1, 2, 4, 8 and then 15 minutes: seconds of real time during a test change nothing.
SLOW = dataclasses.replace(LIMITS, first_delay=timedelta(minutes=1))


@pytest.fixture
def slow_limits(monkeypatch):
    monkeypatch.setattr(throttle, "LIMITS", SLOW)
    return SLOW


def _sign_in(client: TestClient, username: str, password: str):
    return post_login(client, username, password)


def _cookies(response, name: str) -> list[list[str]]:
    """The flags (lower case) of each Set-Cookie header that sets `name`, its value first."""
    found = []
    for header in response.headers.get_list("set-cookie"):
        parts = [part.strip() for part in header.split(";")]
        if parts[0].startswith(f"{name}="):
            found.append([parts[0]] + [part.lower() for part in parts[1:]])
    return found


def test_each_failure_past_five_doubles_the_wait_up_to_fifteen_minutes(app):
    """The default limits: the first five failures cost nothing, then 1 s, 2 s, 4 s, ... after
    the last failure, never more than 15 minutes. The guesser is moved past each wait."""
    client = TestClient(app, follow_redirects=False)
    for _ in range(FREE):
        failed = _sign_in(client, MOTHER, WRONG)
        assert failed.status_code == 401 and "账号或密码不正确" in failed.text
    waits = []
    for failures in range(FREE, FREE + 12):
        wait = LIMITS.delay(failures)
        waits.append(wait.total_seconds())
        if wait >= timedelta(seconds=30):  # long enough to check against the real clock
            refused = _sign_in(client, MOTHER, DEMO_PASSWORD)  # even the right password
            assert refused.status_code == 429
            retry_after = int(refused.headers["retry-after"])
            assert wait.total_seconds() - 10 < retry_after <= wait.total_seconds()
            assert 'id="login-error"' in refused.text and "登录失败次数过多" in refused.text
            assert f'value="{MOTHER}"' in refused.text  # the form keeps the username
            assert not _cookies(refused, COOKIE)
        clock.advance(wait + timedelta(seconds=1))
        assert _sign_in(client, MOTHER, WRONG).status_code == 401
    assert waits[:6] == [1, 2, 4, 8, 16, 32]
    assert waits[-2:] == [900, 900]
    refused = _sign_in(client, MOTHER, DEMO_PASSWORD)
    assert refused.status_code == 429 and 890 < int(refused.headers["retry-after"]) <= 900
    # The last failure was a moment after 10:00 China time plus the waits: free 15 minutes on.
    clock.advance(timedelta(minutes=15, seconds=1))
    assert _sign_in(client, MOTHER, DEMO_PASSWORD).status_code == 303


def test_a_refusal_names_the_minute_to_try_again(app, slow_limits):
    client = TestClient(app, follow_redirects=False)
    for _ in range(FREE):
        _sign_in(client, MOTHER, WRONG)
    clock.advance(timedelta(seconds=61))  # the sixth waits a minute, the seventh two
    assert _sign_in(client, MOTHER, WRONG).status_code == 401
    refused = _sign_in(client, MOTHER, DEMO_PASSWORD)
    assert refused.status_code == 429
    # The sixth failure was at 10:01 China time and a second or so: free after 10:03, 10:04
    # shown (the first whole minute at which trying again works).
    assert "登录失败次数过多，请于10:04以后再试（约2分钟后）" in refused.text
    assert 110 < int(refused.headers["retry-after"]) <= 120


def test_the_same_username_in_another_case_counts_the_same(app, slow_limits):
    client = TestClient(app, follow_redirects=False)
    for typed in ("police01", "POLICE01", " Police01 ", "police01", "pOlice01"):
        assert _sign_in(client, typed, WRONG).status_code == 401
    assert _sign_in(client, "police01", DEMO_PASSWORD).status_code == 429


def test_signing_in_works_again_once_the_wait_has_passed(app, slow_limits):
    client = TestClient(app, follow_redirects=False)
    for _ in range(FREE):
        _sign_in(client, MOTHER, WRONG)
    refused = _sign_in(client, MOTHER, DEMO_PASSWORD)
    assert refused.status_code == 429 and "约1分钟后" in refused.text
    assert 50 < int(refused.headers["retry-after"]) <= 60
    clock.advance(timedelta(seconds=61))
    assert _sign_in(client, MOTHER, DEMO_PASSWORD).status_code == 303


def test_a_refusal_under_a_minute_counts_seconds(app, monkeypatch):
    monkeypatch.setattr(
        throttle, "LIMITS", dataclasses.replace(LIMITS, first_delay=timedelta(seconds=40))
    )
    client = TestClient(app, follow_redirects=False)
    for _ in range(FREE):
        _sign_in(client, MOTHER, WRONG)
    refused = client.post("/api/v1/login", json={"username": MOTHER, "password": DEMO_PASSWORD})
    assert refused.status_code == 429
    seconds = int(refused.headers["retry-after"])
    assert 30 < seconds <= 40
    assert refused.json()["detail"] == f"登录失败次数过多，请{seconds}秒后再试"
    assert (
        refused.json()["detail_en"] == f"Too many failed sign-ins: try again in {seconds} seconds"
    )


def test_a_success_clears_the_clients_failures(app, slow_limits):
    client = TestClient(app, follow_redirects=False)
    for _ in range(FREE - 1):
        assert _sign_in(client, MOTHER, WRONG).status_code == 401
    assert _sign_in(client, MOTHER, DEMO_PASSWORD).status_code == 303
    for _ in range(FREE):
        assert _sign_in(client, MOTHER, WRONG).status_code == 401
    assert _sign_in(client, MOTHER, WRONG).status_code == 429


def test_other_usernames_are_not_refused_for_one_usernames_failures(app, slow_limits):
    client = TestClient(app, follow_redirects=False)
    for _ in range(FREE + 2):
        _sign_in(client, MOTHER, WRONG)
    assert _sign_in(client, FATHER, DEMO_PASSWORD).status_code == 303


def test_failures_from_one_address_refuse_it_for_every_username(app, monkeypatch):
    limits = dataclasses.replace(SLOW, address_failures=8)
    monkeypatch.setattr(throttle, "LIMITS", limits)
    guesser = TestClient(app, follow_redirects=False, client=("203.0.113.7", 40000))
    for n in range(limits.address_failures):
        assert _sign_in(guesser, f"guess{n:02d}", WRONG).status_code == 401
    refused = _sign_in(guesser, FATHER, DEMO_PASSWORD)
    assert refused.status_code == 429 and "登录失败次数过多" in refused.text
    assert 890 < int(refused.headers["retry-after"]) <= 900  # the address window, 15 minutes
    # Another address is not refused, and the guessed usernames are not locked for it.
    other = TestClient(app, follow_redirects=False, client=("198.51.100.2", 40000))
    assert _sign_in(other, FATHER, DEMO_PASSWORD).status_code == 303
    assert _sign_in(other, "guess00", WRONG).status_code == 401
    # The username signing in (elsewhere) does not clear the address's failures.
    assert _sign_in(guesser, FATHER, DEMO_PASSWORD).status_code == 429
    clock.advance(limits.address_window)
    assert _sign_in(guesser, FATHER, DEMO_PASSWORD).status_code == 303


def test_json_api_login_is_throttled_with_retry_after(app, slow_limits):
    client = TestClient(app)
    body = {"username": "police01", "password": WRONG}
    for _ in range(FREE):
        assert client.post("/api/v1/login", json=body).status_code == 403
    body["password"] = DEMO_PASSWORD
    refused = client.post("/api/v1/login", json=body)
    assert refused.status_code == 429
    # The last failure a moment after 10:00 China time, then a minute's wait.
    assert refused.json()["detail"] == "登录失败次数过多，请于10:02以后再试（约1分钟后）"
    assert refused.json()["detail_en"] == (
        "Too many failed sign-ins: try again after 10:02 China time (in about 1 minute)"
    )
    assert 50 < int(refused.headers["retry-after"]) <= 60
    assert "token" not in refused.json()


def test_page_and_api_failures_count_together(app, slow_limits):
    client = TestClient(app, follow_redirects=False)
    for _ in range(3):
        _sign_in(client, "police01", WRONG)
    for _ in range(2):
        client.post("/api/v1/login", json={"username": "police01", "password": WRONG})
    assert _sign_in(client, "police01", DEMO_PASSWORD).status_code == 429
    api = client.post("/api/v1/login", json={"username": "police01", "password": DEMO_PASSWORD})
    assert api.status_code == 429


def test_attempts_are_recorded_without_passwords_or_typed_usernames(app, rt, user_of, slow_limits):
    client = TestClient(app, follow_redirects=False)
    typed_password = "s3cret-typed-by-mistake"
    _sign_in(client, typed_password, typed_password)  # a password typed as the username
    for _ in range(FREE):
        _sign_in(client, "police01", typed_password)
    _sign_in(client, "police01", DEMO_PASSWORD)
    _sign_in(client, MOTHER, DEMO_PASSWORD)
    with Session(rt.db) as session:
        rows = session.exec(select(LoginAttempt).order_by(LoginAttempt.id)).all()
    outcomes = [row.outcome for row in rows]
    assert outcomes == ["failed"] * (1 + FREE) + ["refused", "succeeded"]
    police = user_of("police01").id
    assert [row.user_id for row in rows] == [None] + [police] * 6 + [user_of(MOTHER).id]
    assert rows[1].username_key == username_key("police01")
    assert {row.address for row in rows} == {"testclient"}
    assert {row.device_id for row in rows} == {None}  # no browser had signed in before
    for row in rows:
        assert typed_password not in repr(row.model_dump()) and DEMO_PASSWORD not in repr(
            row.model_dump()
        )


def test_every_server_process_counts_the_same_failures(app, rt, slow_limits):
    """A second application with its own database connections, as another server process."""
    other_db = make_engine(rt.settings.db_url)
    try:
        other = create_app(dataclasses.replace(rt, db=other_db))
        first = TestClient(app, follow_redirects=False)
        second = TestClient(other, follow_redirects=False)
        for n in range(FREE):
            assert _sign_in(first if n % 2 else second, MOTHER, WRONG).status_code == 401
        assert _sign_in(second, MOTHER, DEMO_PASSWORD).status_code == 429
        assert _sign_in(first, MOTHER, DEMO_PASSWORD).status_code == 429
    finally:
        other_db.dispose()


def test_concurrent_guesses_check_no_more_passwords_than_the_free_failures(rt):
    outcomes: list[str] = []
    start = threading.Barrier(10)

    def guess() -> None:
        with Session(rt.db, expire_on_commit=False) as session:
            start.wait()
            try:
                accounts.authenticate(
                    session, username=MOTHER, password=WRONG, address="x", limits=SLOW
                )
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
    assert outcomes.count("checked") <= FREE
    with Session(rt.db) as session:
        failed = session.exec(select(LoginAttempt).where(LoginAttempt.outcome == "failed")).all()
    assert len(failed) == outcomes.count("checked")


def test_session_cookie_is_httponly_lax_for_the_whole_site_and_lasts_the_session(app, rt):
    client = TestClient(app, follow_redirects=False)
    response = _sign_in(client, MOTHER, DEMO_PASSWORD)
    [flags] = _cookies(response, COOKIE)
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert f"max-age={rt.settings.session_hours * 3600}" in flags
    assert "secure" not in flags  # settings.secure_cookies is off in development


def test_device_cookie_is_httponly_lax_for_the_sign_in_page_and_lasts_months(app):
    client = TestClient(app, follow_redirects=False)
    response = _sign_in(client, MOTHER, DEMO_PASSWORD)
    [flags] = _cookies(response, DEVICE_COOKIE)
    assert "httponly" in flags and "samesite=lax" in flags and "path=/login" in flags
    assert f"max-age={int(throttle.DEVICE_LIFETIME.total_seconds())}" in flags
    assert "secure" not in flags
    assert len(flags[0].partition("=")[2]) >= 40  # a random token, not the account's name


def test_session_and_device_cookies_are_secure_when_configured(app, rt, monkeypatch):
    monkeypatch.setattr(rt.settings, "secure_cookies", True)
    client = TestClient(app, follow_redirects=False, base_url="https://testserver")
    response = _sign_in(client, MOTHER, DEMO_PASSWORD)
    assert response.status_code == 303
    for name in (COOKIE, DEVICE_COOKIE):
        [flags] = _cookies(response, name)
        assert "secure" in flags


def test_logout_deletes_the_cookie_on_the_same_path_and_ends_the_session(browser, app):
    citizen = browser(MOTHER)
    token = citizen.client.cookies[COOKIE]
    response = citizen.post("/logout")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    [flags] = _cookies(response, COOKIE)
    assert flags[0] in (f"{COOKIE}=", f'{COOKIE}=""')
    assert "max-age=0" in flags and "path=/" in flags and "httponly" in flags
    assert "samesite=lax" in flags
    assert not _cookies(response, DEVICE_COOKIE)  # the browser stays a recognised device
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
