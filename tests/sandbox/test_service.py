"""`soma sandbox` as an operator meets it: its key, what /v1/check says when a jail cannot run, and a pod's conditions."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests import confined, procs, sandboxes

ROOT = Path(__file__).resolve().parents[2]
UNSHARE_LIMITED = [  # user namespaces used up: root in one of its own caps them at one more, then becomes uid 10001 in it
    "unshare", "--user", "--map-root-user", "--", "sh", "-c",
    'echo 1 > /proc/sys/user/max_user_namespaces && exec unshare --user --map-user=10001 --map-group=10001 -- "$@"', "limited",
]  # fmt: skip


def test_soma_sandbox_refuses_to_start_without_a_key_of_32_characters() -> None:
    env = sandboxes.environment()
    missing = procs.run_soma({k: v for k, v in env.items() if k != "SOMA_SANDBOX_KEY"}, "sandbox")
    short = procs.run_soma({**env, "SOMA_SANDBOX_KEY": "0123456789"}, "sandbox")

    advice = ("The sandbox does not start without a key of at least 32 characters: set SOMA_SANDBOX_KEY (e.g. `openssl rand -hex 32`),"
              " and give the worker the same value. `soma up` makes one itself.")  # fmt: skip
    assert (missing.returncode, missing.stderr) == (1, f"error: SOMA_SANDBOX_KEY is not set. {advice}\n")
    assert (short.returncode, short.stderr) == (1, f"error: SOMA_SANDBOX_KEY has 10 characters. {advice}\n")


async def test_without_bwrap_check_says_how_to_install_it_and_runs_fail_saying_the_same(launcher: procs.Launcher) -> None:
    service = sandboxes.start(launcher, sandboxes.environment(PATH="/nonexistent"))
    reason = ("bubblewrap (bwrap) is not installed: `apt-get install bubblewrap` (`make run` and `make test` do it), or put bwrap on"
              " the sandbox's PATH. See docs/runbooks/sandbox-cannot-start.md.")  # fmt: skip

    assert await _check(service) == {"ok": False, "reason": reason}
    ran = await sandboxes.run(service, "python", "print(1)")
    assert (ran.result.exit_code, ran.result.reason, ran.result.message, ran.stdout) == (None, "failed", reason, "")


async def test_without_the_sandboxs_python_check_names_it_and_the_fix(launcher: procs.Launcher) -> None:
    service = sandboxes.start(launcher, sandboxes.environment(SOMA_SANDBOX_PYTHON="/nowhere/bin/python"))

    assert await _check(service) == {"ok": False, "reason": (
        "The sandbox's Python /nowhere/bin/python does not exist: run `make sandbox` in the checkout (it builds .venv-sandbox),"
        " or set SOMA_SANDBOX_PYTHON to an interpreter with numpy, pandas and matplotlib.")}  # fmt: skip


async def test_a_sandbox_started_before_its_python_was_built_runs_code_once_it_is(launcher: procs.Launcher, tmp_path: Path) -> None:
    python = tmp_path / "sandbox-env" / "bin" / "python"
    service = sandboxes.start(launcher, sandboxes.environment(SOMA_SANDBOX_PYTHON=str(python)))
    before = await _check(service)
    (tmp_path / "sandbox-env").symlink_to(ROOT / ".venv-sandbox")  # `make sandbox` meanwhile

    assert before["ok"] is False and before["reason"].startswith(f"The sandbox's Python {python} does not exist")
    assert await _check(service) == {"ok": True}
    assert (await sandboxes.run(service, "python", "import pandas\nprint('built')")).stdout == "built\n"


async def test_when_user_namespaces_are_used_up_check_says_so_and_how_to_raise_the_limit(launcher: procs.Launcher) -> None:
    service = sandboxes.start(launcher, argv_prefix=UNSHARE_LIMITED)

    assert await _check(service) == {"ok": False, "reason": (
        "A jail cannot start here (bwrap: Creating new namespace failed: nesting depth or /proc/sys/user/max_*_namespaces exceeded"
        " (ENOSPC)): this machine allows no more user namespaces: raise the limit (sysctl user.max_user_namespaces=15000)."
        " See docs/runbooks/sandbox-cannot-start.md.")}  # fmt: skip
    assert "no code can run in this sandbox" in service.proc.output()


async def test_a_root_sandbox_that_cannot_change_its_uid_refuses_to_run_code_as_host_root(launcher: procs.Launcher) -> None:
    without_setuid = ["setpriv", "--bounding-set=-setuid,-setgid", "--"]  # root, as in a container that dropped them
    service = sandboxes.start(launcher, argv_prefix=without_setuid)
    ran = await sandboxes.run(service, "shell", "id -u")

    reason = ("The sandbox runs as root without CAP_SETUID and CAP_SETGID, so its jails would run as host root: run it as an"
              " unprivileged user (the chart runs it as 10001), or give it those two capabilities. See docs/runbooks/sandbox-cannot-start.md.")  # fmt: skip
    assert await _check(service) == {"ok": False, "reason": reason}
    assert (ran.stdout, ran.result.reason, ran.result.message) == ("", "failed", reason)


async def test_a_sandbox_running_as_a_pods_unknown_uid_runs_code_in_jails_as_that_uid(launcher: procs.Launcher) -> None:
    service = sandboxes.start(launcher, confined.pod_environment(sandboxes.environment()), argv_prefix=confined.confine([]))
    ran = await sandboxes.run(service, "python", "import os, pandas\nprint(os.getuid())\nopen('out.txt', 'w').write('made')",
                              files=[("in.txt", b"given")])  # fmt: skip

    assert await _check(service) == {"ok": True}
    assert (ran.stdout, ran.result.exit_code, ran.result.changed) == ("65534\n", 0, [("out.txt", b"made")])
    assert "jails run as this process's uid" in service.proc.output()


async def _check(service: sandboxes.Service) -> dict:
    async with httpx.AsyncClient(timeout=30) as http:
        return (await http.get(service.url + "/v1/check", headers=service.headers)).json()
