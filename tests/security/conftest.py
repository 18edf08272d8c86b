"""The adversarial suite uses the web tests' fixtures: an app per runtime, signed-in browsers."""

from tests.web.conftest import app, browser  # noqa: F401 - fixtures, found by name
