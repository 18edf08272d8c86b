"""Sign-in that an attacker cannot turn against its users: failed guesses from elsewhere never
lock a user out (their own address, an address they signed in from, a recognised device), the
guesser is slowed down, refusals do not tell which accounts exist, X-Forwarded-For is believed
only from a trusted proxy, and old attempts are pruned (services/accounts/throttle.py,
web/client_address.py).

The limits are set small (`limits`) so that a test makes few password checks, and with a first
delay of a minute, so that seconds of real time while the test runs change nothing."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from demo.seed import DEMO_PASSWORD
from engine import clock
from services.accounts import service as accounts
from services.accounts import throttle
from services.accounts.models import KnownDevice, LoginAttempt
from services.accounts.throttle import LIMITS, address_key
from services.errors import Forbidden
from tests.web.conftest import FATHER, MOTHER, post_login
from web import client_address as client_address_module
from web.app import create_app
from web.client_address import forwarded_client
from web.routes.auth import DEVICE_COOKIE

WRONG = "not-the-password"
HOME = "198.51.100.2"  # where the account's owner signs in
ERROR = re.compile(r'id="login-error">([^<]*)<')


@pytest.fixture
def app(rt):
    return create_app(rt)


@pytest.fixture
def limits(monkeypatch) -> throttle.Limits:
    small = dataclasses.replace(
        LIMITS, first_delay=timedelta(minutes=1), account_failures=10, address_failures=12
    )
    monkeypatch.setattr(throttle, "LIMITS", small)
    return small


def _client(app, address: str, **cookies: str) -> TestClient:
    return TestClient(app, follow_redirects=False, client=(address, 40000), cookies=cookies)


def _api_sign_in(client: TestClient, username: str, password: str) -> int:
    body = {"username": username, "password": password}
    return client.post("/api/v1/login", json=body).status_code


def _hammer(app, username: str, addresses: int) -> list[int]:
    """One wrong password for `username` from each of `addresses` addresses (a botnet)."""
    return [
        _api_sign_in(_client(app, f"203.0.113.{n}"), username, WRONG)
        for n in range(1, addresses + 1)
    ]


def _signed_in_device(app, username: str, address: str = HOME) -> str:
    """Sign in through the page from `address`; the browser's recognised-device cookie."""
    browser = _client(app, address)
    assert post_login(browser, username, DEMO_PASSWORD).status_code == 303
    return browser.cookies[DEVICE_COOKIE]


def test_a_third_partys_failures_elsewhere_do_not_refuse_the_user_at_their_address(app, limits):
    attacker = _client(app, "203.0.113.7")
    codes = [_api_sign_in(attacker, MOTHER, WRONG) for _ in range(limits.free_failures + 3)]
    assert codes == [403] * limits.free_failures + [429] * 3
    # The owner has never signed in before: no device, no known address. Still in.
    owner = _client(app, HOME)
    assert post_login(owner, MOTHER, DEMO_PASSWORD).status_code == 303
    assert _api_sign_in(attacker, MOTHER, DEMO_PASSWORD) == 429  # the attacker still waits


def test_guessing_from_many_addresses_slows_to_one_attempt_a_minute(app, limits):
    codes = _hammer(app, MOTHER, limits.account_failures + 5)
    assert codes == [403] * limits.account_failures + [429] * 5
    newcomer = _client(app, "192.0.2.77")
    refused = newcomer.post("/api/v1/login", json={"username": MOTHER, "password": DEMO_PASSWORD})
    assert refused.status_code == 429
    assert 50 < int(refused.headers["retry-after"]) <= 60
    clock.advance(timedelta(seconds=61))
    assert _api_sign_in(newcomer, MOTHER, WRONG) == 403  # the minute's one attempt
    assert _api_sign_in(_client(app, "192.0.2.78"), MOTHER, DEMO_PASSWORD) == 429
    # Other accounts are not slowed.
    assert _api_sign_in(newcomer, FATHER, DEMO_PASSWORD) == 200


def test_the_owner_gets_in_from_an_address_they_signed_in_from_while_many_guess(app, limits):
    owner = _client(app, HOME)
    assert post_login(owner, MOTHER, DEMO_PASSWORD).status_code == 303
    clock.advance(timedelta(days=3))
    _hammer(app, MOTHER, limits.account_failures + 5)
    assert _api_sign_in(_client(app, "192.0.2.77"), MOTHER, DEMO_PASSWORD) == 429
    # Cookies cleared (or the API, which keeps none): the known address is enough.
    assert _api_sign_in(_client(app, HOME), MOTHER, DEMO_PASSWORD) == 200


def test_a_recognised_device_gets_in_while_the_account_is_hammered_from_many_addresses(app, limits):
    device = _signed_in_device(app, MOTHER)
    codes = _hammer(app, MOTHER, limits.account_failures + limits.address_failures)
    assert codes.count(403) == limits.account_failures and codes[-1] == 429
    # The owner travels: a new address, where nobody signed in before ...
    travelling = _client(app, "192.0.2.10", **{DEVICE_COOKIE: device})
    assert _api_sign_in(_client(app, "192.0.2.10"), MOTHER, DEMO_PASSWORD) == 429
    assert post_login(travelling, MOTHER, DEMO_PASSWORD).status_code == 303
    # ... or shares an attacker's address (one office's NAT), refused for the account and for
    # every account by then.
    shared = "203.0.113.1"
    for n in range(limits.address_failures):
        _api_sign_in(_client(app, shared), f"stuffed{n:02d}", WRONG)
    assert _api_sign_in(_client(app, shared), FATHER, DEMO_PASSWORD) == 429
    office = _client(app, shared, **{DEVICE_COOKIE: device})
    assert post_login(office, MOTHER, DEMO_PASSWORD).status_code == 303


def test_a_recognised_device_has_a_budget_of_its_own(app, rt, limits):
    """A stolen device cookie is worth no more than a fresh address: the device is slowed
    after its own failures, and the owner elsewhere is not."""
    device = _signed_in_device(app, MOTHER)
    thief = _client(app, "203.0.113.9", **{DEVICE_COOKIE: device})
    for _ in range(limits.free_failures):
        assert post_login(thief, MOTHER, WRONG).status_code == 401
    refused = post_login(thief, MOTHER, DEMO_PASSWORD)
    assert refused.status_code == 429 and 50 < int(refused.headers["retry-after"]) <= 60
    assert post_login(_client(app, HOME), MOTHER, DEMO_PASSWORD).status_code == 303
    with Session(rt.db) as session:
        devices = session.exec(select(LoginAttempt.device_id).distinct()).all()
    assert len([device for device in devices if device is not None]) == 1


def test_a_device_is_recognised_only_for_the_accounts_it_signed_in_to(app, rt, limits):
    """One office computer, two accounts signed in on it: both recognised; a third account and
    a made-up token are not."""
    browser = _client(app, HOME)
    assert post_login(browser, FATHER, DEMO_PASSWORD).status_code == 303
    assert post_login(browser, "police01", DEMO_PASSWORD).status_code == 303
    tokens = browser.cookies[DEVICE_COOKIE].split(".")
    assert len(tokens) == 2
    for username in (FATHER, "police01", MOTHER):
        _hammer(app, username, limits.account_failures)
    elsewhere = "192.0.2.30"
    for username in (FATHER, "police01"):
        shared = _client(app, elsewhere, **{DEVICE_COOKIE: ".".join(tokens)})
        assert post_login(shared, username, DEMO_PASSWORD).status_code == 303
    for cookie in (".".join(tokens), "x" * 43):
        other = _client(app, elsewhere, **{DEVICE_COOKIE: cookie})
        assert post_login(other, MOTHER, DEMO_PASSWORD).status_code == 429
    with Session(rt.db) as session:
        assert len(session.exec(select(KnownDevice)).all()) == 2  # signing in again reuses


def test_refusals_read_the_same_whether_or_not_the_account_exists(app, limits):
    clock.freeze(clock.utcnow())  # the waits shown are compared to the second
    nobody = "310101199001019999"
    pages = {}
    for username, address in ((MOTHER, "203.0.113.20"), (nobody, "203.0.113.21")):
        client = _client(app, address)
        failures = [post_login(client, username, WRONG) for _ in range(limits.free_failures)]
        refused = post_login(client, username, DEMO_PASSWORD)
        pages[username] = (failures[-1], refused)
    (mother_failed, mother_refused), (nobody_failed, nobody_refused) = pages.values()
    assert mother_failed.status_code == nobody_failed.status_code == 401
    assert ERROR.search(mother_failed.text)[1] == ERROR.search(nobody_failed.text)[1]
    assert mother_refused.status_code == nobody_refused.status_code == 429
    assert ERROR.search(mother_refused.text)[1] == ERROR.search(nobody_refused.text)[1]
    waits = [int(page.headers["retry-after"]) for page in (mother_refused, nobody_refused)]
    assert waits[0] == waits[1]


def test_an_unknown_username_costs_a_password_verification_too(rt, monkeypatch):
    verified = []

    class CountingHasher:
        def verify(self, hashed: str, password: str) -> bool:
            verified.append(hashed)
            return real.verify(hashed, password)

    real = accounts._HASHER
    monkeypatch.setattr(accounts, "_HASHER", CountingHasher())
    with Session(rt.db) as session:
        for username in ("310101199001019999", MOTHER):
            with pytest.raises(Forbidden):
                accounts.authenticate(session, username=username, password=WRONG, address="x")
    assert len(verified) == 2 and all(hashed.startswith("$argon2") for hashed in verified)


def test_x_forwarded_for_is_ignored_by_default(app, rt, limits):
    assert rt.settings.trusted_proxies == []
    for peer in ("203.0.113.7", "127.0.0.1"):
        client = _client(app, peer)
        client.headers["X-Forwarded-For"] = "198.51.100.99"
        assert _api_sign_in(client, MOTHER, WRONG) == 403
    with Session(rt.db) as session:
        addresses = session.exec(select(LoginAttempt.address).order_by(LoginAttempt.id)).all()
    assert addresses == ["203.0.113.7", "127.0.0.1"]


def test_an_ignored_x_forwarded_for_is_logged_once_naming_the_peer(
    app, limits, monkeypatch, caplog
):
    monkeypatch.setattr(client_address_module, "_warned_untrusted", False)
    for _ in range(2):
        client = _client(app, "10.0.0.5")
        client.headers["X-Forwarded-For"] = "198.51.100.99"
        _api_sign_in(client, MOTHER, WRONG)
    warnings = [r.getMessage() for r in caplog.records if r.name == "web.client_address"]
    assert len(warnings) == 1
    assert "10.0.0.5" in warnings[0] and "ONETHING_TRUSTED_PROXIES" in warnings[0]


def test_x_forwarded_for_is_honoured_only_from_a_trusted_proxy(app, rt, limits, monkeypatch):
    monkeypatch.setattr(rt.settings, "trusted_proxies", [ipaddress.ip_network("10.0.0.0/24")])
    proxy = "10.0.0.5"

    def behind_proxy(forwarded: str) -> TestClient:
        client = _client(app, proxy)
        client.headers["X-Forwarded-For"] = forwarded
        return client

    # A guesser behind the proxy, who also writes a made-up address into the header.
    guesser = behind_proxy("192.0.2.250, 203.0.113.7")
    for n in range(limits.address_failures):
        assert _api_sign_in(guesser, f"stuffed{n:02d}", WRONG) == 403
    assert _api_sign_in(guesser, FATHER, DEMO_PASSWORD) == 429
    assert _api_sign_in(behind_proxy("192.0.2.250"), FATHER, WRONG) == 403
    # Another client behind the same proxy is not refused.
    assert _api_sign_in(behind_proxy("198.51.100.2"), FATHER, DEMO_PASSWORD) == 200
    # Not from the proxy: the header is not believed.
    direct = _client(app, "192.0.2.99")
    direct.headers["X-Forwarded-For"] = "198.51.100.2"
    assert _api_sign_in(direct, FATHER, WRONG) == 403
    with Session(rt.db) as session:
        addresses = session.exec(select(LoginAttempt.address).order_by(LoginAttempt.id)).all()
    assert set(addresses[: limits.address_failures]) == {"203.0.113.7"}
    assert addresses[-3:] == ["192.0.2.250", "198.51.100.2", "192.0.2.99"]


TRUSTED = [ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("2001:db8:ffff::/48")]


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.7", ["198.51.100.2"], "203.0.113.7"),  # untrusted peer: header ignored
        ("10.0.0.5", [], "10.0.0.5"),  # a trusted proxy without the header: itself
        ("10.0.0.5", ["198.51.100.2"], "198.51.100.2"),
        ("10.0.0.5", ["1.2.3.4, 198.51.100.2"], "198.51.100.2"),  # the client's own entry
        ("10.0.0.5", ["1.2.3.4", "198.51.100.2, 10.0.0.9"], "198.51.100.2"),  # two proxies
        ("10.0.0.5", ["198.51.100.2:4711"], "198.51.100.2"),
        ("10.0.0.5", ["[2001:db8::7]:4711"], "2001:db8::7"),
        ("10.0.0.5", ["198.51.100.2, garbage"], "10.0.0.5"),  # unreadable: the last proxy
        ("10.0.0.5", ["10.0.0.7, 10.0.0.8"], "10.0.0.7"),  # only proxies: the first
        ("2001:db8:ffff::1", ["2001:db8::7"], "2001:db8::7"),
        ("::ffff:10.0.0.5", ["198.51.100.2"], "198.51.100.2"),  # IPv4 in IPv6 clothing
        ("testclient", ["198.51.100.2"], "testclient"),
    ],
)
def test_the_client_is_the_right_most_forwarded_address_that_is_not_a_trusted_proxy(
    peer, forwarded, client
):
    assert forwarded_client(peer, forwarded, TRUSTED) == client


def test_clients_of_one_ipv6_network_share_a_budget(app, limits):
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    for n in range(limits.free_failures):
        assert _api_sign_in(_client(app, f"2001:db8:1:2::{n + 1}"), MOTHER, WRONG) == 403
    assert _api_sign_in(_client(app, "2001:db8:1:2::99"), MOTHER, DEMO_PASSWORD) == 429
    assert _api_sign_in(_client(app, "2001:db8:1:3::1"), MOTHER, DEMO_PASSWORD) == 200


def _attempts(rt) -> list[tuple[str, str]]:
    with Session(rt.db) as session:
        rows = session.exec(select(LoginAttempt).order_by(col(LoginAttempt.id))).all()
        return [(row.outcome, row.address) for row in rows]


def test_attempts_are_pruned_once_no_budget_counts_them(app, rt, limits):
    assert post_login(_client(app, HOME), MOTHER, DEMO_PASSWORD).status_code == 303
    _api_sign_in(_client(app, "203.0.113.7"), FATHER, WRONG)
    clock.advance(limits.client_window - timedelta(minutes=1))
    _api_sign_in(_client(app, "203.0.113.8"), FATHER, WRONG)
    with Session(rt.db) as session:
        throttle.prune(session, limits=limits)
    assert len(_attempts(rt)) == 3  # all still within the longest window
    clock.advance(timedelta(minutes=2))
    with Session(rt.db) as session:
        throttle.prune(session, limits=limits)
    # The success stays while it makes its address a known one.
    assert _attempts(rt) == [("succeeded", HOME), ("failed", "203.0.113.8")]
    clock.advance(limits.known_address_for)
    with Session(rt.db) as session:
        throttle.prune(session, limits=limits)
    assert _attempts(rt) == []


def test_every_nth_attempt_prunes_the_old_ones(app, rt, monkeypatch):
    every = dataclasses.replace(LIMITS, prune_every=2)
    monkeypatch.setattr(throttle, "LIMITS", every)
    _api_sign_in(_client(app, "203.0.113.7"), FATHER, WRONG)
    clock.advance(every.longest_window + timedelta(minutes=1))
    assert len(_attempts(rt)) == 1
    for n in range(every.prune_every):
        _api_sign_in(_client(app, f"203.0.113.{n + 10}"), FATHER, WRONG)
    assert [address for _outcome, address in _attempts(rt)] == ["203.0.113.10", "203.0.113.11"]


def test_devices_unused_for_their_lifetime_are_forgotten(app, rt, limits):
    device = _signed_in_device(app, MOTHER)
    clock.advance(throttle.DEVICE_LIFETIME - timedelta(days=1))
    again = _client(app, HOME, **{DEVICE_COOKIE: device})
    response = post_login(again, MOTHER, DEMO_PASSWORD)
    assert response.status_code == 303 and response.cookies[DEVICE_COOKIE] == device  # kept
    clock.advance(throttle.DEVICE_LIFETIME - timedelta(days=1))
    with Session(rt.db) as session:
        throttle.prune(session, limits=limits)
        assert len(session.exec(select(KnownDevice)).all()) == 1
    clock.advance(timedelta(days=2))
    with Session(rt.db) as session:
        throttle.prune(session, limits=limits)
        assert session.exec(select(KnownDevice)).all() == []
