"""Schemathesis hooks for test_api_fuzz.py, loaded by the fuzzer's process through SCHEMATHESIS_HOOKS."""

from __future__ import annotations

import os

import schemathesis

OWN_KEY = os.environ.get("FUZZ_OWN_KEY_ID", "")  # the id of the admin key the fuzzer sends


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    """Never revoke the fuzzer's own key: every later request would be a 401 that tests nothing."""
    revoking = case.operation.method.upper() == "DELETE" and case.operation.path == "/v1/keys/{key_id}"
    return not (revoking and str(case.path_parameters.get("key_id")) == OWN_KEY)
