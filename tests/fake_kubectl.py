#!/usr/bin/env python3
"""A stand-in for kubectl with the few commands runbook 5 types, over a namespace kept in a JSON file.

    fake_kubectl.py get deploy -n NS -o custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas --no-headers
    fake_kubectl.py get pods -n NS | get deploy -n NS
    fake_kubectl.py scale deploy --all --replicas=N -n NS
    fake_kubectl.py scale deploy/NAME --replicas=N -n NS

FAKE_KUBECTL_STATE names the file: {"KIND/NAME": replicas} for the workloads of namespace
FAKE_KUBECTL_NAMESPACE, which every command must name with -n (a command without it would act on
another namespace). Anything else exits 1 naming the command, so a runbook that changes its commands
changes its test too.
Standard library only: it runs with whichever python3 is on PATH.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    state_file = Path(os.environ["FAKE_KUBECTL_STATE"])
    state: dict[str, int] = json.loads(state_file.read_text())
    if "-n" not in argv[:-1] or argv[argv.index("-n") + 1] != os.environ["FAKE_KUBECTL_NAMESPACE"]:
        print(f"fake kubectl: not in namespace {os.environ['FAKE_KUBECTL_NAMESPACE']}: {' '.join(argv)}", file=sys.stderr)
        return 1
    at = argv.index("-n")
    args = argv[:at] + argv[at + 2 :]
    deployments = {key.split("/", 1)[1]: n for key, n in state.items() if key.startswith("Deployment/")}
    if args == ["get", "deploy", "-o", "custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas", "--no-headers"]:
        print("\n".join(f"{name}   {n}" for name, n in sorted(deployments.items())))
    elif args in (["get", "pods"], ["get", "deploy"]):
        print("\n".join(f"{key}   {n}" for key, n in sorted(state.items())))
    elif args[:2] == ["scale", "deploy"] and len(args) == 4 and args[2] == "--all" and args[3].startswith("--replicas="):
        state.update({f"Deployment/{name}": int(args[3].split("=")[1]) for name in deployments})
    elif len(args) == 3 and args[0] == "scale" and args[1].startswith("deploy/") and args[2].startswith("--replicas="):
        name = args[1].removeprefix("deploy/")
        if name not in deployments:
            print(f'Error from server (NotFound): deployments.apps "{name}" not found', file=sys.stderr)
            return 1
        state[f"Deployment/{name}"] = int(args[2].split("=")[1])
    else:
        print(f"fake kubectl does not know: {' '.join(argv)}", file=sys.stderr)
        return 1
    state_file.write_text(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
