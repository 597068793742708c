"""Run the real-SDK Node tests against `tether dev` many times in a row on a loaded machine.

Issue 12's flake check: `python tools/soak.py [--runs 30] [--busy 4]` starts one `tether dev`
(as tests/test_devstack.py does), starts `--busy` processes that spin on the CPU (they stop by
themselves when the soak ends, or after `--max-minutes`), then runs `node --test` on
tests/node/authenticate.test.mjs (the test that used to fail 1 run in 15) and proxy.test.mjs,
which node runs in parallel, `--runs` times against that stack. Those two change no state a
later run reads (the connect and workflow files connect new users, and the dev keys allow 5 per
project), so each run starts from the same stack. It prints each run's result and the total,
and exits 1 when any run failed. Loopback only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import node_tests  # noqa: E402 - the repository's own test helpers
from tests.devstack import RunningDevStack  # noqa: E402
from tests.test_devstack import NODE_DIR, NODE_PAGE_ORIGIN, NODE_PROXY_USER, NODE_TIMEOUT_S, NODE_USER  # noqa: E402
from tether.sandbox_connect import connect_over_http  # noqa: E402

FILES = ("authenticate.test.mjs", "proxy.test.mjs")


def _spin(deadline: float) -> None:
    """Keep one core busy until `deadline` (monotonic seconds)."""
    count = 0
    while time.monotonic() < deadline:
        count += 1


def _node_env(stack: RunningDevStack, proxy_token: str) -> dict[str, str]:
    """What the two test files read (as tests/test_devstack.py's node_run fixture sets it)."""
    return {
        **os.environ,
        "TETHER_API_URL": stack.api_url,
        "TETHER_PROJECT_ID": stack.project_id,
        "TETHER_USER_TOKEN": stack.token(NODE_USER),
        "TETHER_WPCOM_ORIGIN": stack.state["wpcomOrigin"],
        "TETHER_PROXY_USER_TOKEN": proxy_token,
        "TETHER_PROJECT_SECRET_KEY": stack.state["projectSecretKey"],
    }


def main() -> int:
    """Soak; report; exit 1 if any run failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--busy", type=int, default=4, help="CPU-bound processes beside the tests")
    parser.add_argument("--max-minutes", type=float, default=60, help="the busy processes stop by then")
    args = parser.parse_args()
    known = [inner for inner in node_tests.inner_tests(NODE_DIR) if inner.file in FILES]
    failures = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tether-soak-") as scratch:
        work = Path(scratch)
        with RunningDevStack(work / "stack", extra_args=("--allow-origin", NODE_PAGE_ORIGIN)) as stack:
            proxy_token = stack.token(NODE_PROXY_USER)
            connect_over_http(stack.api_url, stack.project_id, proxy_token)
            deadline = time.monotonic() + args.max_minutes * 60
            busy = [multiprocessing.Process(target=_spin, args=(deadline,), daemon=True) for _ in range(args.busy)]
            for process in busy:
                process.start()
            try:
                for run in range(1, args.runs + 1):
                    began = time.monotonic()
                    result = node_tests.run_node_tests(
                        NODE_DIR,
                        _node_env(stack, proxy_token),
                        work / f"results-{run}.jsonl",
                        timeout=NODE_TIMEOUT_S,
                        files=FILES,
                    )
                    tests = [r for r in result.results if r.get("kind") != "suite" and r.get("outcome")]
                    failed = [r for r in tests if r["outcome"] == "failed"]
                    problems = result.unaccounted(known)
                    ok = result.returncode == 0 and not failed and not problems and len(tests) >= len(known)
                    failures += 0 if ok else 1
                    print(
                        f"run {run:2d}/{args.runs}: {'ok  ' if ok else 'FAIL'} {time.monotonic() - began:5.1f} s  "
                        f"{len(tests) - len(failed)}/{len(known)} tests passed"
                    )
                    if not ok:
                        for failure in failed:
                            print(f"  {failure.get('file')}: {failure.get('name')}: {failure.get('error')}")
                        print("\n".join(problems), result.output[-3000:], sep="\n")
                    sys.stdout.flush()
            finally:
                for process in busy:
                    process.terminate()
    print(
        f"{args.runs - failures}/{args.runs} runs passed with {args.busy} busy processes "
        f"({(time.monotonic() - started) / 60:.1f} min)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
