"""The whole API fuzzed from its own OpenAPI document (schemathesis) against a real gateway process.

Coverage (boundary and invalid values), fuzzing (generated requests) and stateful (sequences that
follow the document's links from a created object to its operations) phases, as an admin, with a
fixed seed. Any 5xx, undocumented status or content type, or body that does not match its schema fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests import procs
from tests.conftest import ADMIN_KEY

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 20261202
EXAMPLES = 6  # per operation and phase: bounded so the run takes well under a minute on two cores beside two other test processes
CHECKS = ",".join((
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
    "response_headers_conformance", "unsupported_method", "allow_header_conformance",  # 405 with the right Allow
))  # fmt: skip
# Only what would end the run's meaning; each has tests of its own.
EXCLUDED = (
    "/v1/emergency-stop",  # locks Soma down: every later request is 503 lockdown (tests/emergency)
    "/v1/keys/revoke-all",  # revokes the fuzzer's own key: every later request is 401 (tests/acceptance/test_access_keys.py)
    "/v1/sessions/{session_id}/events",  # a stream that never ends on its own (tests/acceptance/test_streaming.py)
)


def test_the_api_answers_every_generated_request_as_its_openapi_document_says(stack, tmp_path: Path) -> None:
    own_key = next(k["id"] for k in stack.client.get(stack.url + "/v1/keys").json()["keys"])
    argv = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", f"{stack.url}/openapi.json",
        "--header", f"Authorization: Bearer {ADMIN_KEY}",
        "--phases", "coverage,fuzzing,stateful",
        "--checks", CHECKS,
        "--seed", str(SEED), "--max-examples", str(EXAMPLES), "--generation-database", "none",
        "--workers", "1", "--request-timeout", "30", "--no-color",
        *(arg for path in EXCLUDED for arg in ("--exclude-path", path)),
    ]  # fmt: skip
    env = {**stack.env(), "SCHEMATHESIS_HOOKS": "tests.acceptance.fuzz_hooks", "FUZZ_OWN_KEY_ID": str(own_key)}
    env["PYTHONPATH"] = str(procs.ROOT)
    run = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    print(run.stdout[run.stdout.index("Coverage (in"):])  # shown with -s: phases, links covered, cases, time
    generated = re.search(r"(\d+) generated, \1 passed", run.stdout)
    assert generated and int(generated[1]) > 1000 and "✅ Stateful" in run.stdout, run.stdout
    assert stack.client.get(stack.url + "/v1/auth/me").status_code == 200  # still an admin: the answers were not all 401s
