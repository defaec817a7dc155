"""GET /metrics: this gateway's Prometheus metrics, queue figures included."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from soma.observability import metrics

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def scrape(request: Request) -> Response:
    """Every metric of this process, in Prometheus' text format; /metrics requests are counted too."""
    await request.app.state.queues.refresh()
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
