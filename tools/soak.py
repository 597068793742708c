"""Run the real-SDK Node tests against `tether dev` many times in a row on a loaded machine.

Issue 12's flake check: `python tools/soak.py [--runs 30] [--busy 4]` starts `--busy` processes
that spin on the CPU (they stop by themselves when the soak ends, or after `--max-minutes`), then
runs `pytest tests/test_devstack.py -k "real_sdk_under_node or nothing_unaccounted"` `--runs`
times, one fresh `tether dev` each, and prints each run's result and the total. Exit status 1
when any run failed. Loopback only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SELECTION = "real_sdk_under_node or nothing_unaccounted"


def _spin(deadline: float) -> None:
    """Keep one core busy until `deadline` (monotonic seconds)."""
    count = 0
    while time.monotonic() < deadline:
        count += 1


def main() -> int:
    """Soak; report; exit 1 if any run failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--busy", type=int, default=4, help="CPU-bound processes beside the tests")
    parser.add_argument("--max-minutes", type=float, default=60, help="the busy processes stop by then")
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_minutes * 60
    busy = [multiprocessing.Process(target=_spin, args=(deadline,), daemon=True) for _ in range(args.busy)]
    for process in busy:
        process.start()
    failures = 0
    started = time.monotonic()
    try:
        for run in range(1, args.runs + 1):
            began = time.monotonic()
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:randomly",
                    "-p",
                    "no:cacheprovider",
                    "tests/test_devstack.py",
                    "-k",
                    SELECTION,
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            summary = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
            ok = result.returncode == 0
            failures += 0 if ok else 1
            print(f"run {run:2d}/{args.runs}: {'ok  ' if ok else 'FAIL'} {time.monotonic() - began:5.1f} s  {summary}")
            if not ok:
                print(result.stdout[-4000:], result.stderr[-2000:], sep="\n")
            sys.stdout.flush()
    finally:
        for process in busy:
            process.terminate()
    print(
        f"{args.runs - failures}/{args.runs} runs passed in a row with {args.busy} busy processes "
        f"({(time.monotonic() - started) / 60:.1f} min)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
