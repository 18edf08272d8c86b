"""The API's tests drive it as an integrator would (bearer tokens, JSON bodies), on the same
app and signed-in browsers as the page tests."""

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import app, browser  # noqa: F401 - fixtures


@pytest.fixture
def api(app):  # noqa: F811 - the fixture above
    """A client of the app; bearer tokens go in each request's headers."""
    with TestClient(app) as client:
        yield client
