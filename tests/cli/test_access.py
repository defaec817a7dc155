"""`soma users` and `soma keys`: usage errors say what to give."""

from __future__ import annotations

from tests import procs

CLOSED = "postgresql://soma@127.0.0.1:1/soma"  # never reached: these errors come before the database


def test_keys_revoke_wants_exactly_one_of_a_key_id_and_all() -> None:
    env = procs.soma_env(CLOSED)
    fix = "Give `soma keys revoke` one key id (from `soma keys list`), or --all to revoke every key."

    neither = procs.run_soma(env, "keys", "revoke")
    both = procs.run_soma(env, "keys", "revoke", "3", "--all")

    assert (neither.returncode, neither.stderr) == (1, f"error: No key id was given. {fix}\n")
    assert (both.returncode, both.stderr) == (1, f"error: Both key id 3 and --all were given. {fix}\n")
