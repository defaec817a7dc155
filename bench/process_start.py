"""CPU a `soma` process spends starting: a gateway until /health answers, a worker until it is ready,
and a short CLI command (`soma keys list`) to its end.

Run from the repository root:

    .venv/bin/python -m bench.process_start [--runs 7]

Each kind is started `--runs` times two ways, alternating: as `soma` starts (the garbage collector
off while it imports: soma/startup.py) and, as the baseline, with `gc.disable` made a no-op so the
collector runs throughout, as it did before. The figure is the process's user+system CPU read from
/proc when it is ready (or from its rusage when it ends), the median of the runs, and the ratio of
the two. The test suite starts some 450 such processes, so every 0.1 s here is about 45 s of its CPU.
Figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

from bench import stats
from bench.stack import Stack, running
from tests import procs

# The baseline: the same `soma` command, with the collector left on through the imports.
GC_ON = "import gc, sys; gc.disable = lambda: None; sys.argv[0] = 'soma'; from soma import cli; cli.main()"
TICKS = os.sysconf("SC_CLK_TCK")
ADMIN_KEY = "soma_bench-admin-key-0123456789abcdefghijklmnopqrstuvwxyz"


def argv(command: list[str], collector_on: bool) -> list[str]:
    return [sys.executable, "-c", GC_ON, *command] if collector_on else [sys.executable, "-m", "soma", *command]


def cpu_of(pid: int) -> float:
    """user + system seconds of a running process, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def gateway(stack: Stack, collector_on: bool) -> float:
    env = stack.soma_env(slm_base_url="http://127.0.0.1:9/v1", slm_api_key="bench", bootstrap_admin_key=ADMIN_KEY)
    url = f"http://127.0.0.1:{env['SOMA_PORT']}"
    proc = stack.launcher.start("gateway", argv(["gateway"], collector_on), env)
    procs.wait_healthy(url, proc, 120)
    used = cpu_of(proc.popen.pid)
    stack.launcher.stop_all()
    return used


def worker(stack: Stack, collector_on: bool) -> float:
    env = stack.soma_env(slm_base_url="http://127.0.0.1:9/v1", slm_api_key="bench", log_level="INFO", worker_metrics_port="0")
    proc = stack.launcher.start("worker", argv(["worker"], collector_on), env)
    procs.wait_until(lambda: "worker ready" in proc.output() or not proc.alive(), 120, "the worker to start")
    used = cpu_of(proc.popen.pid)
    stack.launcher.stop_all()
    return used


def cli(stack: Stack, collector_on: bool) -> float:
    env = stack.soma_env()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv(["keys", "list"], collector_on), env=env, capture_output=True, text=True, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


KINDS = {"gateway to /health": gateway, "worker to ready": worker, "soma keys list": cli}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with running("soma-bench-start-") as stack:
        stack.start_database()
        print(f"{'process':<22}{'collector on (s)':>18}{'soma (s)':>12}{'ratio':>8}")
        for name, measure in KINDS.items():
            measure(stack, False)  # unmeasured: bytecode cached, the database warm
            figures: dict[bool, list[float]] = {True: [], False: []}
            for _ in range(runs):
                for collector_on in (True, False):
                    figures[collector_on].append(measure(stack, collector_on))
                    time.sleep(0.2)
            on, soma = stats.median(figures[True]), stats.median(figures[False])
            print(f"{name:<22}{on:>18.3f}{soma:>12.3f}{soma / on:>8.2f}")


if __name__ == "__main__":
    main()
