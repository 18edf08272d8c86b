"""Prometheus metrics at `/metrics`, for the operator's scraper only (services/metrics.py says
what is measured).

Access by allow-list: the client's address (web/client_address.py: the socket's peer, or the
forwarded client behind a trusted proxy) must be in `ONETHING_METRICS_ALLOW` (default: this
host's loopback), and when `ONETHING_METRICS_TOKEN` is set the scraper must also send it as a
bearer token. Anything else is refused (403) before the database is read."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services import metrics
from services.config import Settings
from services.errors import Forbidden
from web.client_address import Network, client_address
from web.deps import RuntimeDep
from web.openapi import answers

router = APIRouter(tags=["operations"])


class MetricsRefused(Forbidden):
    code = "metrics_refused"

    def __init__(self) -> None:
        super().__init__(
            "此地址或凭据无权读取运行指标", "This address or credential may not read the metrics"
        )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "The metrics in the Prometheus text format (version 0.0.4)",
            "content": {metrics.CONTENT_TYPE: {"schema": {"type": "string"}}},
        },
        403: {
            "description": "Not an allowed scraper: the client's address is not in "
            "ONETHING_METRICS_ALLOW, or the bearer token ONETHING_METRICS_TOKEN is missing "
            "or wrong"
        },
    },
)
@answers(403)
def scrape(request: Request, rt: RuntimeDep) -> Response:
    """This host's metrics and the database's figures, for Prometheus (run in a worker thread:
    it queries)."""
    if not may_scrape(request, rt.settings):
        raise MetricsRefused()
    catalog = rt.catalog
    departments = {item.department for item in catalog.items.values()} | set(catalog.departments)
    body = metrics.exposition(rt.db, registry=rt.registry, departments=departments)
    return Response(body, media_type=metrics.CONTENT_TYPE, headers={"Cache-Control": "no-store"})


def may_scrape(request: Request, settings: Settings) -> bool:
    """The client's address is allowed and, where a token is set, the right one was sent."""
    if not _in_networks(client_address(request), settings.metrics_allow):
        return False
    token = settings.metrics_token.get_secret_value()
    if not token:
        return True
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), token.encode())


def _in_networks(address: str | None, networks: Sequence[Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    parsed = getattr(parsed, "ipv4_mapped", None) or parsed
    return any(parsed.version == n.version and parsed in n for n in networks)
