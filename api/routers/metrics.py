"""``GET /metrics``: Prometheus text, open only to the addresses in ARGUS_METRICS_ALLOW."""

from __future__ import annotations

import ipaddress
import logging

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.context import get_ctx
from argus.errors import Forbidden

log = logging.getLogger(__name__)
router = APIRouter(tags=["system"])


def allowed(host: str, networks: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)


@router.get("/metrics", summary="Prometheus metrics (only from ARGUS_METRICS_ALLOW)",
            response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}})
def metrics(request: Request) -> Response:
    ctx = get_ctx(request)
    host = request.client.host if request.client else ""
    if not allowed(host, ctx.settings.metrics_allow):
        raise Forbidden(f"{host or 'this address'} may not read /metrics; add it to ARGUS_METRICS_ALLOW "
                        "(a JSON list of addresses or networks) on the server")
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)
