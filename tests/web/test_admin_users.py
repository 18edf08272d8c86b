"""Administrators manage staff accounts: create, edit, disable, reset passwords, with guards and
a change history that never holds a password."""

from __future__ import annotations

import re
import threading

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from demo.seed import DEMO_PASSWORD
from services.accounts import admin as accounts_admin
from services.accounts.models import AccountChange, LoginSession, User
from services.errors import Conflict
from tests.web.conftest import MOTHER, post_login

USERS = "/admin/config/users"
PASSWORD = "Window2026pass"
ONE_TIME = re.compile(r"<code[^>]*>([^<]+)</code>")


def sign_in(app, username: str, password: str) -> tuple[TestClient, int]:
    """A fresh client after posting the login form; the status is 303 when it worked."""
    client = TestClient(app, follow_redirects=False)
    response = post_login(client, username, password)
    return client, response.status_code


def create(admin, **fields) -> object:
    admin.get(f"{USERS}/new")
    data = {
        "username": "police09",
        "display_name": "公安局窗口九",
        "role": "clerk",
        "department": "police",
        "password": PASSWORD,
        **fields,
    }
    return admin.post(USERS, data)


def changes(rt, username: str) -> list[AccountChange]:
    with Session(rt.db) as session:
        user = session.exec(select(User).where(User.username == username)).one()
        return list(
            session.exec(select(AccountChange).where(AccountChange.user_id == user.id)).all()
        )


def sessions_of(rt, user_id: int) -> int:
    with Session(rt.db) as session:
        rows = session.exec(select(LoginSession).where(LoginSession.user_id == user_id)).all()
        return len(rows)


def test_created_clerk_signs_in_and_sees_their_departments_queue(app, browser, user_of):
    admin = browser("admin")
    response = create(admin, supervisor="1")
    assert response.status_code == 303
    created = user_of("police09")
    assert response.headers["location"] == f"{USERS}/{created.id}?notice=created"
    assert (created.role, created.department, created.supervisor) == ("clerk", "police", True)
    assert created.password_hash != PASSWORD and PASSWORD not in created.password_hash

    client, status = sign_in(app, "police09", PASSWORD)
    assert status == 303
    queue = client.get("/clerk")
    assert queue.status_code == 200 and "公安局 · 待办工作台" in queue.text
    assert client.get("/clerk/follow-ups").status_code == 200  # a supervisor


def test_an_empty_password_is_generated_and_shown_once(app, browser):
    admin = browser("admin")
    response = create(admin, username="cdc-system2", role="system", department="cdc", password="")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    password = ONE_TIME.search(response.text).group(1)
    assert accounts_admin.password_problem(password) is None
    _client, status = sign_in(app, "cdc-system2", password)
    assert status == 303
    page = admin.get(f"{USERS}/{_user_id(admin, 'cdc-system2')}")
    assert password not in page.text


def _user_id(admin, username: str) -> int:
    listing = admin.get(USERS, params={"search": username})
    return int(re.search(r'data-user="(\d+)"', listing.text).group(1))


def test_disabled_account_cannot_sign_in_and_its_session_ends(app, browser, user_of, rt):
    clerk = browser("police02")
    assert clerk.get("/clerk").status_code == 200
    target = user_of("police02")
    assert sessions_of(rt, target.id) == 1

    admin = browser("admin")
    admin.get(f"{USERS}/{target.id}")
    response = admin.post(f"{USERS}/{target.id}/disable")
    assert response.status_code == 303
    assert sessions_of(rt, target.id) == 0
    assert clerk.get("/clerk").status_code == 303  # back to the login page
    assert sign_in(app, "police02", DEMO_PASSWORD)[1] == 401

    assert admin.post(f"{USERS}/{target.id}/enable").status_code == 303
    assert sign_in(app, "police02", DEMO_PASSWORD)[1] == 303
    assert [(c.action, c.old_value, c.new_value) for c in changes(rt, "police02")] == [
        ("disabled", "true", "false"),
        ("enabled", "false", "true"),
    ]


def test_tasks_a_clerk_can_no_longer_work_go_back_to_the_queue(browser, user_of, rt):
    from services.cases.models import CaseEvent, CaseItem
    from tests.web.test_newborn import submit_newborn

    _, case_id = submit_newborn(browser)
    police, hrss = browser("police02"), browser("hrss01")
    claimed = []
    for clerk in (police, hrss):
        clerk.get("/clerk")  # the page's CSRF token
        task = next(t for t in clerk.client.get("/api/v1/tasks").json() if t["case_id"] == case_id)
        answer = clerk.client.post(
            f"/api/v1/tasks/{task['id']}/claim", headers={"X-CSRF-Token": clerk.csrf}
        )
        assert answer.status_code == 200, answer.text
        claimed.append(task["id"])
    admin = browser("admin")
    moved = user_of("hrss01")
    admin.get(f"{USERS}/{moved.id}/edit")
    edited = admin.post(
        f"{USERS}/{moved.id}/edit",
        data={"display_name": moved.display_name, "role": "clerk", "department": "medical"},
    )
    assert edited.status_code == 303, edited.text[:300]
    disabled = user_of("police02")
    assert admin.post(f"{USERS}/{disabled.id}/disable").status_code == 303
    with Session(rt.db) as session:
        for item_id in claimed:
            assert session.get(CaseItem, item_id).claimed_by is None
        notes = session.exec(
            select(CaseEvent.message).where(
                CaseEvent.case_id == case_id, CaseEvent.kind == "release"
            )
        ).all()
        assert any("已调离本部门" in n for n in notes) and any("账号已停用" in n for n in notes)


def test_reset_password_shows_a_new_one_once_and_ends_sessions(app, browser, user_of, rt):
    clerk = browser("health01")
    target = user_of("health01")
    admin = browser("admin")
    admin.get(f"{USERS}/{target.id}")
    response = admin.post(f"{USERS}/{target.id}/password")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    password = ONE_TIME.search(response.text).group(1)

    assert clerk.get("/clerk").status_code == 303
    assert sign_in(app, "health01", DEMO_PASSWORD)[1] == 401
    assert sign_in(app, "health01", password)[1] == 303
    [change] = changes(rt, "health01")
    assert (change.action, change.field, change.old_value, change.new_value) == (
        "password_reset",
        None,
        None,
        None,
    )
    assert password not in admin.get(f"{USERS}/{target.id}").text


@pytest.mark.parametrize("username", ["police01", "police-lead", MOTHER])
def test_only_administrators_manage_accounts(browser, user_of, username):
    other = browser(username)
    target = user_of("health01")
    assert other.get(USERS).status_code == 403
    assert other.get(f"{USERS}/{target.id}").status_code == 403
    assert other.post(f"{USERS}/{target.id}/disable").status_code == 403
    assert (
        other.post(USERS, {"username": "x123", "display_name": "x", "role": "admin"}).status_code
        == 403
    )
    assert user_of("health01").active


def test_posts_without_the_csrf_token_are_refused(browser, user_of):
    admin = browser("admin")
    target = user_of("health01")
    response = admin.client.post(f"{USERS}/{target.id}/disable", data={})
    assert response.status_code == 403
    assert user_of("health01").active


def test_an_administrator_cannot_disable_or_demote_themselves(browser, user_of, rt):
    admin = browser("admin")
    me = user_of("admin")
    admin.get(f"{USERS}/{me.id}")
    refused = admin.post(f"{USERS}/{me.id}/disable")
    assert refused.status_code == 403 and "不能停用自己的账号" in refused.text
    demoted = admin.post(
        f"{USERS}/{me.id}/edit",
        {"display_name": "系统管理员", "role": "clerk", "department": "police"},
    )
    assert demoted.status_code == 403 and "不能取消自己的管理员角色" in demoted.text
    me = user_of("admin")
    assert (me.active, me.role, me.department) == (True, "admin", None)
    assert changes(rt, "admin") == []


def test_the_last_active_administrator_is_kept(browser, user_of, rt):
    admin = browser("admin")
    created = create(admin, username="admin2", role="admin", department="", password=DEMO_PASSWORD)
    assert created.status_code == 303
    second = browser("admin2")
    first = user_of("admin")
    assert second.post(f"{USERS}/{first.id}/disable").status_code == 303
    # The first administrator's disabling raced with theirs: nobody would be left.
    with Session(rt.db) as session, pytest.raises(Conflict):
        accounts_admin.set_active(session, actor=first, user_id=user_of("admin2").id, active=False)
    with Session(rt.db) as session, pytest.raises(Conflict):
        accounts_admin.update_staff(
            session,
            actor=first,
            departments=rt.catalog.departments,
            user_id=user_of("admin2").id,
            display_name="二号管理员",
            role="clerk",
            department="police",
        )
    assert user_of("admin2").active and user_of("admin2").role == "admin"


def _at_once(*calls):
    """Run every call in its own thread, released together; their results in order."""
    start = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_administrators_disabling_each_other_at_once_leave_one_active(browser, user_of, rt):
    admin = browser("admin")
    created = create(admin, username="admin2", role="admin", department="", password=DEMO_PASSWORD)
    assert created.status_code == 303
    first, second = user_of("admin"), user_of("admin2")

    def disable(actor: User, target: User) -> str:
        with Session(rt.db) as session:
            try:
                accounts_admin.set_active(session, actor=actor, user_id=target.id, active=False)
            except Conflict:
                return "refused"
            return "disabled"

    results = _at_once(lambda: disable(first, second), lambda: disable(second, first))
    assert sorted(results) == ["disabled", "refused"]
    with Session(rt.db) as session:
        active_admins = select(func.count()).select_from(User)
        active_admins = active_admins.where(User.role == "admin", col(User.active).is_(True))
        assert session.exec(active_admins).one() == 1
        assert len(session.exec(select(AccountChange)).all()) == 5 + 1  # created, one disabled


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"password": "short1"}, "password", "密码至少10位"),
        ({"password": "onlyletterslong"}, "password", "须同时包含字母和数字"),
        ({"department": "nowhere"}, "department", "没有这个部门"),
        ({"department": ""}, "department", "必须属于一个部门"),
        ({"username": "police01"}, "username", "已被使用"),
        ({"username": "Police01 "}, "username", "已被使用"),
        ({"username": "7abc"}, "username", "以字母开头"),
        ({"display_name": "  "}, "display_name", "请填写姓名"),
        ({"display_name": "a\x00b"}, "display_name", "控制字符"),
        ({"role": "citizen"}, "role", "请选择角色"),
        ({"role": "admin", "department": "", "supervisor": "1"}, "supervisor", "只有窗口人员"),
    ],
)
def test_bad_input_is_shown_next_to_the_field_and_nothing_is_written(
    browser, rt, fields, field, message
):
    admin = browser("admin")
    with Session(rt.db) as session:
        before = len(session.exec(select(User)).all())
    response = create(admin, **fields)
    assert response.status_code == 422
    error = re.search(rf'<p class="field-error" id="f-{field}-error">([^<]+)</p>', response.text)
    assert error and message in error.group(1)
    assert 'name="csrf_token"' in response.text
    with Session(rt.db) as session:
        assert len(session.exec(select(User)).all()) == before
        assert session.exec(select(AccountChange)).first() is None


def test_edit_records_each_changed_field_old_to_new(app, browser, user_of, rt):
    target = user_of("police01")
    admin = browser("admin")
    admin.get(f"{USERS}/{target.id}/edit")
    response = admin.post(
        f"{USERS}/{target.id}/edit",
        {"display_name": "公安局窗口一", "role": "clerk", "department": "cdc", "supervisor": "1"},
    )
    assert response.status_code == 303
    moved = user_of("police01")
    assert (moved.department, moved.supervisor) == ("cdc", True)
    rows = {c.field: (c.action, c.old_value, c.new_value) for c in changes(rt, "police01")}
    assert rows == {
        "display_name": ("updated", "公安局窗口", "公安局窗口一"),
        "department": ("updated", "police", "cdc"),
        "supervisor": ("updated", "false", "true"),
    }
    assert all(c.actor_user_id == user_of("admin").id for c in changes(rt, "police01"))
    page = admin.get(f"{USERS}/{target.id}")
    history = page.text.split('id="changes"')[1]
    assert "公安局" in history and "疾病预防控制中心" in history and "系统管理员" in history

    client, _ = sign_in(app, "police01", DEMO_PASSWORD)
    assert "疾病预防控制中心" in client.get("/clerk").text

    # Saving the same values again writes nothing.
    admin.post(
        f"{USERS}/{target.id}/edit",
        {"display_name": "公安局窗口一", "role": "clerk", "department": "cdc", "supervisor": "1"},
    )
    assert len(changes(rt, "police01")) == 3


def test_edit_with_an_unknown_department_is_refused_without_writing(browser, user_of, rt):
    target = user_of("police01")
    admin = browser("admin")
    admin.get(f"{USERS}/{target.id}/edit")
    response = admin.post(
        f"{USERS}/{target.id}/edit",
        {"display_name": "改名", "role": "clerk", "department": "atlantis"},
    )
    assert response.status_code == 422 and "没有这个部门" in response.text
    assert user_of("police01").display_name == "公安局窗口"
    assert changes(rt, "police01") == []


def test_creation_is_recorded_without_the_password(browser, rt):
    admin = browser("admin")
    assert create(admin).status_code == 303
    rows = changes(rt, "police09")
    assert {c.field: c.new_value for c in rows} == {
        "username": "police09",
        "display_name": "公安局窗口九",
        "role": "clerk",
        "department": "police",
        "supervisor": "false",
    }
    assert all(c.action == "created" and c.old_value is None for c in rows)
    assert not any(PASSWORD in (c.new_value or "") for c in rows)


def test_list_shows_staff_by_default_filters_and_masks_citizen_ids(browser):
    admin = browser("admin")
    staff = admin.get(USERS)
    assert staff.status_code == 200
    assert 'data-role="citizen"' not in staff.text and 'data-role="admin"' in staff.text

    police = admin.get(USERS, params={"department": "police", "role": "clerk"})
    roles = set(re.findall(r'data-role="(\w+)"', police.text))
    assert roles == {"clerk"} and "police-lead" in police.text and "cdc01" not in police.text

    citizens = admin.get(USERS, params={"role": "citizen", "search": "王芳"})
    assert citizens.text.count('data-role="citizen"') == 1
    assert MOTHER not in citizens.text and "310105********028X" in citizens.text

    assert admin.get(USERS, params={"department": "nowhere"}).status_code == 422
    assert admin.get(USERS, params={"role": "root"}).status_code == 422
    assert admin.get(USERS, params={"search": "%"}).text.count("data-user=") == 0


def test_list_pages_and_filters_disabled_accounts(browser, user_of):
    admin = browser("admin")
    target = user_of("cdc02")
    admin.get(f"{USERS}/{target.id}")
    admin.post(f"{USERS}/{target.id}/disable")
    disabled = admin.get(USERS, params={"status": "disabled"})
    assert re.findall(r'data-user="(\d+)"', disabled.text) == [str(target.id)]
    first = admin.get(USERS, params={"role": "all"})
    assert first.text.count("data-user=") == accounts_admin.PER_PAGE and 'rel="next"' in first.text
    second = admin.get(USERS, params={"role": "all", "page": 2})
    assert second.status_code == 200 and 'rel="prev"' in second.text


def test_a_citizens_account_can_be_disabled_but_not_edited_or_reset(browser, user_of):
    admin = browser("admin")
    citizen = user_of(MOTHER)
    page = admin.get(f"{USERS}/{citizen.id}")
    assert MOTHER not in page.text and "310105********028X" in page.text
    assert f"{USERS}/{citizen.id}/password" not in page.text
    assert f"{USERS}/{citizen.id}/edit" not in page.text
    assert admin.post(f"{USERS}/{citizen.id}/password").status_code == 403
    edit = admin.post(
        f"{USERS}/{citizen.id}/edit", {"display_name": "x", "role": "admin", "department": ""}
    )
    assert edit.status_code == 403 and user_of(MOTHER).role == "citizen"
    assert admin.post(f"{USERS}/{citizen.id}/disable").status_code == 303
    assert not user_of(MOTHER).active


def test_unknown_account_is_404(browser):
    admin = browser("admin")
    assert admin.get(f"{USERS}/999999").status_code == 404
    assert admin.post(f"{USERS}/999999/disable").status_code == 404
    assert admin.get(f"{USERS}/99999999999").status_code == 422
