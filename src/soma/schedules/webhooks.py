"""A finished run posted to its task's webhook: signed, retried with backoff, each attempt kept in the run's `webhook`.

The body is `{"task_id", "run_id", "due_at", "outcome", "session_id", "answer"}`; the header
`X-Soma-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact body bytes with the task's secret,
so the receiver checks it before trusting the body.

Server-side request forgery (docs/security.md): only http(s) URLs are stored; the name is resolved
here, and unless the task's owner is an admin, every address it resolves to must be public (no
loopback, private, link-local or cloud metadata address). The request then goes to the address that
was checked (the Host header and TLS name stay the URL's), so the name cannot resolve elsewhere
between check and connect, and redirects are not followed. The history shows a status code or a
short error, never the response's body.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import ipaddress
import json
import socket
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from soma.db import engine as db_engine

ATTEMPTS = 5  # deliveries tried per run: the first, then retries 2, 4, 8 and 16 s apart (worker/tasks.py WEBHOOK_RETRY)
BACKOFF_BASE = 2  # seconds: procrastinate's exponential_wait
TIMEOUT = 10.0  # seconds for one attempt: connect, send, and the answer's status
SIGNATURE_HEADER = "X-Soma-Signature"

_READ = sa.text(
    """
    SELECT r.id, r.task_id, r.due_at, r.outcome, r.session_id, r.webhook, t.webhook_url, t.webhook_secret,
           (SELECT m.content FROM messages AS m WHERE m.reply_to = r.message_id) AS answer,
           CASE split_part(t.owner, ':', 1)
           WHEN 'user' THEN EXISTS (SELECT FROM users AS u WHERE u.id = CAST(split_part(t.owner, ':', 2) AS bigint) AND u.role = 'admin')
           WHEN 'key' THEN EXISTS (SELECT FROM api_keys AS k WHERE k.id = CAST(split_part(t.owner, ':', 2) AS bigint) AND 'admin' = ANY(k.scopes))
           ELSE false END AS owner_is_admin
      FROM task_runs AS r JOIN scheduled_tasks AS t ON t.id = r.task_id
     WHERE r.id = :run_id
    """
)
_WRITE = sa.text("UPDATE task_runs SET webhook = CAST(:webhook AS jsonb) WHERE id = :run_id")


class Undelivered(Exception):
    """This attempt failed; procrastinate retries the job (worker/tasks.py WEBHOOK_RETRY)."""


def sign(body: bytes, secret: str) -> str:
    """The X-Soma-Signature value of a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(run: Any) -> bytes:
    """The JSON the webhook receives, as bytes (what the signature covers)."""
    payload = {
        "task_id": str(run.task_id), "run_id": run.id, "due_at": run.due_at.isoformat(), "outcome": run.outcome,
        "session_id": str(run.session_id) if run.session_id else None, "answer": run.answer,
    }  # fmt: skip
    return json.dumps(payload, ensure_ascii=False).encode()


async def deliver(engine: AsyncEngine, run_id: int, attempt: int) -> str:
    """Post run `run_id` (`attempt` counts from 1); `delivered`, `failed` (the last attempt), or Undelivered to be retried."""
    async with db_engine.autocommit(engine) as conn:
        run = (await conn.execute(_READ, {"run_id": run_id})).one_or_none()
    if run is None or run.webhook_url is None or run.webhook_secret is None:
        return "dropped"  # the task, or its webhook, was deleted meanwhile
    body = body_of(run)
    status, error = await _post(run.webhook_url, body, sign(body, run.webhook_secret), run.owner_is_admin)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    state = "delivered" if error is None else ("failed" if attempt >= ATTEMPTS else "retrying")
    history = [*(run.webhook or {}).get("history", []), {"attempt": attempt, "at": now, "status": status, "error": error}]
    webhook = {"attempts": attempt, "status": state, "error": error, "delivered_at": now if error is None else None, "history": history}
    async with db_engine.autocommit(engine) as conn:
        await conn.execute(_WRITE, {"webhook": json.dumps(webhook), "run_id": run_id})
    if state == "retrying":
        raise Undelivered(f"webhook of run {run_id}, attempt {attempt}: {error}")
    return state


async def _post(url: str, body: bytes, signature: str, private_allowed: bool) -> tuple[int | None, str | None]:
    """Send one attempt; (HTTP status or None, error or None)."""
    target = httpx.URL(url)
    try:
        address = await _address(target, private_allowed)
    except (OSError, ValueError) as exc:
        return None, str(exc)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature, "User-Agent": "Soma-Webhook", "Host": target.netloc.decode()}
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client:
            response = await client.post(
                target.copy_with(host=address), content=body, headers=headers, extensions={"sni_hostname": target.host}
            )
    except httpx.TimeoutException:
        return None, f"no answer within {TIMEOUT:g} s"
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}"


async def _address(target: httpx.URL, private_allowed: bool) -> str:
    """The address to connect to; ValueError when the name resolves to an address this task may not reach."""
    port = target.port or (443 if target.scheme == "https" else 80)
    found = await asyncio.get_running_loop().getaddrinfo(target.host, port, type=socket.SOCK_STREAM)
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in found]
    if not addresses:
        raise OSError(f"{target.host} resolves to no address")
    if not private_allowed:
        for address in addresses:
            if not address.is_global or address.is_multicast:
                raise ValueError(
                    f"refused: {target.host} resolves to {address}, which is not a public address; only an admin's tasks may post there"
                )
    return str(addresses[0])
