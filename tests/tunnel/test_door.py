"""The tunnel's own door with real processes: `soma gateway`, `soma tunnel run` and the cloudflared stand-in.

Cloudflare sets CF-Connecting-IP to each visitor's address; here the test speaks for Cloudflare and
sends it to the origin the supervisor reports, as cloudflared would forward it (docs/security.md,
"The public door").
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import httpx

from soma.auth import ratelimit
from tests import procs
from tests.conftest import ADMIN, ADMIN_KEY
from tests.tunnel.test_supervisor import FAKE

PUBLIC_URL = "https://soma.example.org"
PASSWORD = "correct horse battery"
VISITORS = 25  # more than ratelimit.PER_ADDRESS: counted as one address, they would be refused


def _env(database_url: str, **overrides: object) -> dict[str, str]:
    settings = {"bootstrap_admin_key": ADMIN_KEY, "slm_api_key": "test-key", "public_url": PUBLIC_URL, "cloudflared": FAKE}
    return procs.soma_env(database_url, tunnel_metrics_port=0, **{k: str(v) for k, v in {**settings, **overrides}.items()})


def _gateway(launcher: procs.Launcher, env: dict[str, str]) -> httpx.Client:
    proc = launcher.soma("gateway", env)
    base = f"http://127.0.0.1:{env['SOMA_PORT']}"
    procs.wait_healthy(base, proc)
    return httpx.Client(base_url=base, headers=ADMIN, timeout=30)


def _failed_from(admin: httpx.Client) -> list[str]:
    entries = admin.get("/v1/audit", params={"action": ratelimit.FAILED, "limit": 1000}).json()["entries"]
    return [e["client_address"] for e in reversed(entries)]


def test_wrong_passwords_through_the_tunnel_from_many_visitors_never_lock_out_another(launcher, database_url, tmp_path) -> None:
    record = tmp_path / "cloudflared.jsonl"
    env = {**_env(database_url, port=procs.free_port(), tunnel_origin_port=procs.free_port()), "FAKE_CLOUDFLARED_RECORD": str(record)}
    with _gateway(launcher, env) as admin:
        assert admin.post("/v1/users", json={"username": "ann", "password": PASSWORD, "role": "admin"}).status_code == 201
        launcher.start("tunnel", [sys.executable, "-m", "soma", "tunnel", "run"], env)
        assert admin.put("/v1/tunnel", json={"enabled": True, "mode": "quick"}).status_code == 200
        row = procs.wait_until(lambda: _connected(admin), 30, "the quick tunnel to connect")
        origin = row["origin"]
        assert origin == f"http://127.0.0.1:{env['SOMA_TUNNEL_ORIGIN_PORT']}"
        status = procs.run_soma(env, "tunnel", "status", "--json")
        assert (status.returncode, json.loads(status.stdout)["origin"]) == (0, origin)
        assert _started(record)[-1]["argv"] == ["tunnel", "--no-autoupdate", "--url", origin]  # cloudflared is pointed at the door

        with httpx.Client(base_url=origin, timeout=30) as cloudflare:
            for n in range(VISITORS):
                visitor = {"CF-Connecting-IP": f"203.0.113.{n + 1}"}
                guess = cloudflare.post("/v1/auth/login", json={"username": "ann", "password": f"guess {n}"}, headers=visitor)
                assert guess.status_code == 401, guess.text
            welcome = cloudflare.post("/v1/auth/login", json={"username": "ann", "password": PASSWORD}, headers={"CF-Connecting-IP": "198.51.100.7"})
        assert welcome.status_code == 200, welcome.text
        cookie = welcome.headers["set-cookie"]
        assert cookie.startswith("__Host-soma_session=") and "secure" in cookie.lower()  # plain HTTP from cloudflared, HTTPS for the browser
        assert _failed_from(admin) == [f"203.0.113.{n + 1}" for n in range(VISITORS)]


def test_a_forged_cloudflare_address_on_the_normal_listener_counts_as_the_real_peer(launcher, database_url) -> None:
    env = _env(database_url, port=procs.free_port(), tunnel_origin_port=procs.free_port())  # a door exists, but not here
    with _gateway(launcher, env) as admin, httpx.Client(base_url=admin.base_url, timeout=30) as stranger:
        for n in range(ratelimit.PER_ADDRESS):  # a name each, so only the per-address limit applies
            forged = {"CF-Connecting-IP": f"203.0.113.{n + 1}"}
            assert stranger.post("/v1/auth/login", json={"username": f"user{n}", "password": "guess"}, headers=forged).status_code == 401
        refused = stranger.post("/v1/auth/login", json={"username": "user-next", "password": "guess"}, headers={"CF-Connecting-IP": "198.51.100.7"})
        assert refused.status_code == 429 and "127.0.0.1" in refused.json()["error"]["message"]
        assert _failed_from(admin) == ["127.0.0.1"] * ratelimit.PER_ADDRESS


def test_a_gateway_whose_tunnel_door_is_taken_does_not_start_and_names_the_setting(database_url) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        door = taken.getsockname()[1]
        env = _env(database_url, port=procs.free_port(), tunnel_origin_port=door, log_level="WARNING")
        result = procs.run_soma(env, "gateway")
    assert result.returncode == 1
    assert f"error: Cannot listen on 127.0.0.1:{door} (Address already in use). The gateway cannot serve the tunnel's door" in result.stderr


def _connected(admin: httpx.Client) -> dict | None:
    row = admin.get("/v1/tunnel").json()
    return row if row["state"] == "connected" else None


def _started(record: Path) -> list[dict]:
    lines = record.read_text().splitlines() if record.exists() else []
    return [e for e in map(json.loads, lines) if e["event"] == "start"]
