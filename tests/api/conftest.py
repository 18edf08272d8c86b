"""The API's tests drive it as an integrator would (bearer tokens, JSON bodies), on the same
app and signed-in browsers as the page tests."""

from tests.web.conftest import app, browser  # noqa: F401 - fixtures
