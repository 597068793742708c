"""Cold start: `import app` and the first request, each in a fresh process.

Every sample is a new Python process that imports the Lambda handler module (`app`) with
`-X importtime`, then answers one API Gateway event through the handler, as a new Lambda
container does. AWS is moto's server mode on loopback (the process reaches it over HTTP, as a
Lambda reaches DynamoDB). Three kinds of process:

- `current`: this checkout's code;
- `baseline`: the code at `--baseline-ref` (by default the commit before the cold-start work),
  exported with `git archive` into a temporary folder and run with the same interpreter;
- `floor`: `import boto3, chalice`, what a Chalice app using boto3 pays before any code of its own.

Samples of the three kinds are interleaved, so machine noise hits each alike. Two first
requests are timed: `admin` (`GET /projects/{pid}`, project secret key) and `sdk`
(`GET /projects/{pid}/sdk/me`, a user token: RS256 verification). Usage:

    .venv/bin/python bench/coldstart.py [--samples 9] [--baseline-ref REF]

Figures are printed as milliseconds and as ratios against the baseline measured in the same
run; `bench/results/coldstart-latest.json` keeps them all. Nothing is asserted about timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_stats import percentile  # noqa: E402

# The commit before the cold-start work (boto3's resource layer, PyJWT imported with the app).
DEFAULT_BASELINE_REF = "08934a6"
STAGE = "coldstart"
HEAVY = ("boto3", "s3transfer", "botocore.session", "jwt", "cryptography.x509", "requests")

PROBE = r"""
import json, sys, time
started = time.perf_counter()
import app
imported = time.perf_counter()
kind, pid, credential = sys.argv[1], sys.argv[2], sys.argv[3]
heavy = sys.argv[4].split(",")
loaded = [m for m in heavy if m in sys.modules]

class Context:
    function_name = "tether-coldstart-api"
    memory_limit_in_mb = 512
    aws_request_id = "coldstart"
    def get_remaining_time_in_millis(self):
        return 30000

resource, path = {
    "admin": ("/projects/{project_id}", f"/projects/{pid}"),
    "sdk": ("/projects/{project_id}/sdk/me", f"/projects/{pid}/sdk/me"),
}[kind]
headers = {"Authorization": f"Bearer {credential}", "Accept": "application/json"}
event = {
    "resource": resource, "path": path, "httpMethod": "GET", "headers": headers,
    "multiValueHeaders": {k: [v] for k, v in headers.items()},
    "queryStringParameters": None, "multiValueQueryStringParameters": None,
    "pathParameters": {"project_id": pid}, "stageVariables": None, "body": None, "isBase64Encoded": False,
    "requestContext": {"resourcePath": resource, "httpMethod": "GET", "path": "/api" + path, "stage": "api",
                       "requestId": "coldstart", "identity": {"sourceIp": "203.0.113.7"}},
}
answer = app.app(event, Context())
answered = time.perf_counter()
sys.stderr.flush()
print(json.dumps({"import_s": imported - started, "request_s": answered - imported,
                  "status": answer["statusCode"], "loaded_at_import": loaded,
                  "loaded_after_request": [m for m in heavy if m in sys.modules]}))
"""

IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def parse_importtime(stderr: str) -> tuple[list[tuple[int, int, int, str]], list[tuple[int, int, int, str]]]:
    """The `-X importtime` lines as (self us, cumulative us, depth, module): those up to and
    including `app`, and those after it (imports the first request made)."""
    before: list[tuple[int, int, int, str]] = []
    after: list[tuple[int, int, int, str]] = []
    target = before
    for line in stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if not match:
            continue
        entry = (int(match.group(1)), int(match.group(2)), len(match.group(3)) // 2, match.group(4))
        target.append(entry)
        if entry[3] == "app" and entry[2] == 0:
            target = after
    return before, after


def by_package(lines: list[tuple[int, int, int, str]]) -> dict[str, float]:
    """Self time (ms) by top-level package."""
    totals: dict[str, float] = {}
    for self_us, _, _, module in lines:
        package = module.split(".")[0]
        totals[package] = totals.get(package, 0.0) + self_us / 1000
    return totals


def run_app(code_dir: Path, env: dict[str, str], kind: str, pid: str, credential: str) -> dict[str, Any]:
    """One fresh process: import the app, answer one event."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", PROBE, kind, pid, credential, ",".join(HEAVY)],
        cwd=code_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{code_dir}: {result.stderr[-2000:]}")
    sample: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    before, after = parse_importtime(result.stderr)
    app_line = next(entry for entry in before if entry[3] == "app" and entry[2] == 0)
    sample["importtime_app_ms"] = app_line[1] / 1000
    sample["packages_ms"] = by_package(before)
    sample["request_imports_ms"] = sum(entry[1] for entry in after if entry[2] == 0) / 1000
    sample["request_packages_ms"] = by_package(after)
    return sample


def run_floor(env: dict[str, str]) -> float:
    """`import boto3, chalice` in a fresh process (-X importtime, ms)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import boto3, chalice"],
        cwd=tempfile.gettempdir(),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    before, _ = parse_importtime(result.stderr)
    return sum(entry[1] for entry in before if entry[2] == 0 and entry[3] in ("boto3", "chalice")) / 1000


def export_ref(ref: str, into: Path) -> str:
    """`app.py` and `chalicelib/` at `ref`, written into `into`; returns the full commit id."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "app.py", "chalicelib"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    tar_path = into / "code.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    tar_path.unlink()
    return commit


def provision(env: dict[str, str]) -> tuple[str, str, str]:
    """Table, keyring, a project with a signing key; returns (project id, secret key, user token)."""
    os.environ.update(env)
    from chalicelib.services.projects import create_project
    from chalicelib.services.signing_keys import register_signing_key
    from chalicelib.wiring import get_services, reset_services
    from tether import provision as tether_provision
    from tether.tokens import generate_rsa_private_key_pem, public_key_pem, sign_user_token

    reset_services()
    tether_provision.ensure_deployment()
    services = get_services()
    created = create_project(services.projects, "Cold start")
    private_pem = generate_rsa_private_key_pem()
    register_signing_key(services.projects, created.project.id, public_key_pem(private_pem))
    token = sign_user_token(private_pem, "coldstart-user", ttl_seconds=3600)
    return created.project.id, created.secret_key, token


def summary(values: list[float]) -> dict[str, float]:
    """Median, min, p90 and max of a list of milliseconds."""
    return {
        "median_ms": statistics.median(values),
        "min_ms": min(values),
        "p90_ms": percentile(values, 0.9),
        "max_ms": max(values),
    }


def main() -> None:
    """Measure, print, and write bench/results/coldstart-latest.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=9, help="fresh processes per kind and request")
    parser.add_argument("--baseline-ref", default=DEFAULT_BASELINE_REF)
    args = parser.parse_args()

    import logging

    from tether import moto_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request
    server = moto_server.start()
    env = {
        **moto_server.client_environment(server, "us-east-1"),
        "TETHER_STAGE": STAGE,
        "TETHER_PUBLIC_URL": "https://coldstart.example.com/api",
        "TETHER_WPCOM_ORIGIN": "http://127.0.0.1:9",
        "PYTHONDONTWRITEBYTECODE": "",
    }
    pid, secret_key, token = provision(env)
    credentials = {"admin": secret_key, "sdk": token}
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {"current": {}, "baseline": {}}
    floor: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="tether-coldstart-") as work:
            baseline_dir = Path(work)
            baseline_commit = export_ref(args.baseline_ref, baseline_dir)
            dirs = {"current": ROOT, "baseline": baseline_dir}
            for code_dir in dirs.values():  # untimed: compiles each tree's .pyc files once
                run_app(code_dir, env, "admin", pid, secret_key)
            for round_number in range(args.samples):
                order = ["current", "baseline"] if round_number % 2 == 0 else ["baseline", "current"]
                for kind in ("admin", "sdk"):
                    for name in order:
                        sample = run_app(dirs[name], env, kind, pid, credentials[kind])
                        if sample["status"] != 200:
                            raise RuntimeError(f"{name} {kind}: status {sample['status']}")
                        samples[name].setdefault(kind, []).append(sample)
                floor.append(run_floor(env))
    finally:
        server.stop()

    report = build_report(samples, floor, args, baseline_commit)
    print_report(report)
    out = ROOT / "bench" / "results" / "coldstart-latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {out.relative_to(ROOT)}")


def build_report(
    samples: dict[str, dict[str, list[dict[str, Any]]]], floor: list[float], args: Any, baseline_commit: str
) -> dict[str, Any]:
    """Figures per kind of process and request, and ratios current / baseline."""
    figures: dict[str, Any] = {}
    for name, kinds in samples.items():
        every = [s for runs in kinds.values() for s in runs]
        packages: Counter[str] = Counter()
        for sample in every:
            packages.update(sample["packages_ms"])
        figures[name] = {
            "import_app_importtime": summary([s["importtime_app_ms"] for s in every]),
            "import_app_wall": summary([s["import_s"] * 1000 for s in every]),
            "import_top_packages_mean_ms": {
                package: round(total / len(every), 1) for package, total in packages.most_common(12)
            },
            "heavy_modules_loaded_at_import": every[0]["loaded_at_import"],
            "first_request": {},
        }
        for kind, runs in kinds.items():
            request_packages: Counter[str] = Counter()
            for sample in runs:
                request_packages.update(sample["request_packages_ms"])
            figures[name]["first_request"][kind] = {
                "request": summary([s["request_s"] * 1000 for s in runs]),
                "import_plus_request": summary([(s["import_s"] + s["request_s"]) * 1000 for s in runs]),
                "imports_during_request": summary([s["request_imports_ms"] for s in runs]),
                "request_import_top_packages_mean_ms": {
                    package: round(total / len(runs), 1) for package, total in request_packages.most_common(6)
                },
                "heavy_modules_loaded_after_request": runs[0]["loaded_after_request"],
            }
    current, baseline = figures["current"], figures["baseline"]

    def ratio(path: list[str]) -> float:
        a: Any = current
        b: Any = baseline
        for part in path:
            a, b = a[part], b[part]
        return round(float(a["median_ms"]) / float(b["median_ms"]), 3)

    ratios = {
        "import_app_importtime": ratio(["import_app_importtime"]),
        "import_app_wall": ratio(["import_app_wall"]),
        **{
            f"{kind}_{what}": ratio(["first_request", kind, what])
            for kind in ("admin", "sdk")
            for what in ("request", "import_plus_request")
        },
    }
    floor_summary = summary(floor)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "samples_per_kind_and_request": args.samples,
        "baseline_ref": args.baseline_ref,
        "baseline_commit": baseline_commit,
        "figures": figures,
        "floor_import_boto3_chalice": floor_summary,
        "ratios_current_over_baseline": ratios,
        "current_import_over_floor": round(
            current["import_app_importtime"]["median_ms"] / floor_summary["median_ms"], 3
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average": os.getloadavg(),
        },
    }


def print_report(report: dict[str, Any]) -> None:
    """The figures as a table."""
    current, baseline = report["figures"]["current"], report["figures"]["baseline"]
    ratios = report["ratios_current_over_baseline"]
    n = report["samples_per_kind_and_request"]
    load = ", ".join(f"{x:.1f}" for x in report["machine"]["load_average"])
    print(f"cold start, fresh processes ({n} per kind and request), baseline {report['baseline_commit'][:10]}")
    print(f"  load average (1/5/15 min) at the end: {load} on {report['machine']['cpus']} CPUs")
    print(f"  {'(ms, median / min)':<46}{'current':>16}{'baseline':>16}{'ratio':>8}")

    def row(label: str, a: dict[str, float], b: dict[str, float], r: float | None) -> None:
        left = f"{a['median_ms']:.0f} / {a['min_ms']:.0f}"
        right = f"{b['median_ms']:.0f} / {b['min_ms']:.0f}"
        shown = "-" if r is None else f"{r:.2f}"
        print(f"  {label:<46}{left:>16}{right:>16}{shown:>8}")

    row(
        "import app (-X importtime)",
        current["import_app_importtime"],
        baseline["import_app_importtime"],
        ratios["import_app_importtime"],
    )
    row("import app (wall clock)", current["import_app_wall"], baseline["import_app_wall"], ratios["import_app_wall"])
    for kind, label in (("admin", "GET /projects/{pid}"), ("sdk", "GET /projects/{pid}/sdk/me")):
        c, b = current["first_request"][kind], baseline["first_request"][kind]
        row(f"first request {label}", c["request"], b["request"], ratios[f"{kind}_request"])
        row("  of which imports it made", c["imports_during_request"], b["imports_during_request"], None)
        both = ratios[f"{kind}_import_plus_request"]
        row("  import + first request", c["import_plus_request"], b["import_plus_request"], both)
    floor = report["floor_import_boto3_chalice"]
    print(
        f"  floor: import boto3, chalice {floor['median_ms']:.0f} / {floor['min_ms']:.0f} ms; "
        f"current import app / floor = {report['current_import_over_floor']:.2f}"
    )
    for name, figures in (("current", current), ("baseline", baseline)):
        top = ", ".join(f"{p} {ms:.0f}" for p, ms in figures["import_top_packages_mean_ms"].items())
        print(f"  {name} import, self time by package (mean ms): {top}")
        heavy = ", ".join(figures["heavy_modules_loaded_at_import"]) or "none"
        print(f"  {name} heavy modules loaded by import app: {heavy}")
        for kind in ("admin", "sdk"):
            first = figures["first_request"][kind]
            later = ", ".join(f"{p} {ms:.0f}" for p, ms in first["request_import_top_packages_mean_ms"].items())
            print(f"    first {kind} request imported (mean ms): {later or 'nothing'}")


if __name__ == "__main__":
    main()
