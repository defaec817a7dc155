"""The gateway application: routers, error shape, and what routes share on app.state (engine, notifier, embedder)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

import soma
from soma import config, errors
from soma.conversations import context
from soma.conversations import queue as turn_queue
from soma.db import engine as db_engine
from soma.embeddings import embedder
from soma.auth import bootstrap
from soma.gateway import (
    admin_api, auth_api, authn, backup_api, emergency_api, error_shape, events_api, files_api, headers, health_api, knowledge_api,
    limits, lockdown_gate, mcp_endpoint, memories_api, meta_api, metrics_api, oidc_api, openai_api, openapi, profiles_api, restores_api,
    sessions_api, settings_api, status_api, tasks_api, tools_api, tunnel_api, turns_api,
)
from soma.gateway.notifier import Notifier
from soma.knowledge import ingest
from soma.observability import http as observe, queues
from soma.secrets import watch
from soma.web import pages
from soma.workspaces import attachments

# Every module named *_api is a router; the order is the OpenAPI document's.
ROUTERS = (
    health_api, metrics_api, auth_api, oidc_api, admin_api, meta_api, status_api, sessions_api, turns_api, files_api, events_api, settings_api,
    profiles_api, knowledge_api, memories_api, tools_api, tasks_api, backup_api, restores_api, tunnel_api, emergency_api, openai_api,
)


def create(
    settings: config.Settings,
    database_url: str,
    keys: watch.SecretWatcher | None = None,
    embedding_model: embedder.Embedder | None = None,
) -> FastAPI:
    """A gateway app on the given database.

    `keys` already loaded, or loaded at start; `embedding_model` to share one (tests), or the app makes its own.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.keys = keys or watch.SecretWatcher(settings)
        if keys is None:
            await asyncio.to_thread(app.state.keys.load)
        reloading = asyncio.create_task(app.state.keys.run())  # /ready reports the SLM key as it is now
        app.state.engine = db_engine.create(database_url)
        app.state.queues = queues.QueueSampler(app.state.engine, (turn_queue.QUEUE, ingest.QUEUE))
        app.state.notifier = Notifier(database_url)
        app.state.notifier.start()
        app.state.lockdown = lockdown_gate.watch(app, database_url)
        await app.state.lockdown.first_read(timeout=5)  # a gateway started during a lockdown never serves
        warming = asyncio.create_task(context.warm_if_needed(app.state.engine, app.state.embedder))
        provisioning = asyncio.create_task(bootstrap.provision_when_possible(app.state.engine, settings))
        await asyncio.wait({provisioning}, timeout=5)  # usually done here, so the key works on the first request
        try:
            yield
        finally:
            await mcp_endpoint.stop(app)  # first: an `ask` still waiting is cancelled while the database is there
            provisioning.cancel()
            warming.cancel()
            reloading.cancel()
            await app.state.lockdown.stop()
            await app.state.notifier.stop()
            await app.state.engine.dispose()

    app = FastAPI(title="Soma", version=soma.__version__, lifespan=lifespan)
    app.state.settings = settings
    oidc_api.provider_of(app)  # incomplete single sign-on settings stop the start, naming what to set
    app.state.embedder = embedding_model or embedder.MiniLM()  # loads its weights on first use
    error_shape.install(app)
    openapi.install(app)
    # Every middleware below refuses by raising a SomaError, which error_shape.Catch renders.
    app.add_middleware(restores_api.Gate)  # innermost: only requests past authentication and the body limit probe the gate
    message_bytes = limits.max_body_bytes(settings.max_message_chars)
    with_files = limits.Allowance(sessions_api.MESSAGES_PATH, message_bytes + attachments.MAX_BYTES, errors.AttachmentsTooLarge)
    app.add_middleware(
        limits.BodyLimit,
        max_bytes=message_bytes,
        streamed=(knowledge_api.UPLOAD_PATH, restores_api.UPLOAD_PATH),
        allowances=(with_files,),
    )
    app.add_middleware(authn.Authenticate, metrics_open=not settings.metrics_require_key, idle_seconds=settings.session_idle_seconds)
    app.add_middleware(lockdown_gate.Gate)  # outside authentication: under lockdown every caller gets 503, keys or not
    app.add_middleware(error_shape.Catch)  # inside Observe, so every refusal (and a lost database's 503) is counted and has a request id
    app.add_middleware(observe.Observe)  # sees every request, even a 413
    app.add_middleware(headers.SecurityHeaders)  # outermost: on every response the app gives
    for module in ROUTERS:
        app.include_router(module.router)
    mcp_endpoint.install(app)  # /mcp: the MCP protocol behind the same middlewares
    pages.install(app)
    return app
