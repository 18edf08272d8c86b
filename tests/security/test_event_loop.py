"""Routes never run registry, database or engine work on the event loop: a submission held up
by a slow registry does not delay another request of the same server."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from tests.web.conftest import CSRF, MOTHER, NEWBORN_ANSWERS, post_login

WAIT = 20  # seconds: generous; a blocked event loop would never answer before the release


class SlowRegistry:
    """The registry, with its population lookups held until the test releases them."""

    def __init__(self, registry) -> None:
        self._registry = registry
        self.entered = threading.Event()
        self.release = threading.Event()

    def person(self, id_number):
        self.entered.set()
        self.release.wait(WAIT)
        return self._registry.person(id_number)

    def __getattr__(self, name):
        return getattr(self._registry, name)


def test_a_slow_registry_during_a_submission_does_not_delay_another_request(app, rt):
    slow = SlowRegistry(rt.registry)
    # One client, one event loop for both requests (the client's portal), as in one server.
    with TestClient(app, follow_redirects=False) as client:
        assert post_login(client, MOTHER).status_code == 303
        token = CSRF.search(client.get("/matters/newborn/apply").text).group(1)
        assert (
            client.post("/matters/newborn/consent", data={"csrf_token": token}).status_code == 303
        )
        rt.registry = slow  # the form was not shown: the submission itself reads the registries
        answers: dict[str, int] = {}

        def submit() -> None:
            data = {**NEWBORN_ANSWERS, "csrf_token": token}
            answers["submit"] = client.post("/matters/newborn/apply", data=data).status_code

        def other() -> None:
            answers["other"] = client.get("/login").status_code

        submitting = threading.Thread(target=submit)
        submitting.start()
        try:
            assert slow.entered.wait(WAIT), "the submission never reached the registry"
            asking = threading.Thread(target=other)
            asking.start()
            asking.join(WAIT)
            answered_meanwhile = not asking.is_alive() and "submit" not in answers
        finally:
            slow.release.set()
            submitting.join(WAIT)
        assert answered_meanwhile, "the other request waited for the slow registry"
        assert answers == {"other": 200, "submit": 303}
