"""Benchmark: what the proxy adds to a WordPress.com call, and how many AWS calls it makes.

Starts the local stack in this process (moto, the WordPress.com sandbox and the API on
127.0.0.1), connects a sandbox account for one user, then times sequential keep-alive GETs of
`/me/sites`, interleaved: straight to the sandbox (baseline) and through
`/projects/{pid}/sdk/proxy/wordpress/v1.1/me/sites`. During the timed proxied requests it
counts the DynamoDB and Secrets Manager calls the app makes, by operation and call site.

Run: `make bench` or `.venv/bin/python bench/proxy.py [--requests N] [--warmup N]`.
Prints a table and writes bench/results/proxy-latest.json. Not a test: nothing is asserted
about timing; the run fails only if a request does not answer 200.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import requests
from bench_stats import percentile  # bench/, the script's own folder

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = REPO_ROOT / "bench" / "results" / "proxy-latest.json"
BENCH_USER = "bench-user"
PROXY_PATH = "v1.1/me/sites"
DIRECT_PATH = "/rest/v1.1/me/sites"
# Targets for a warm proxied request (the design: project config and keyring are cached per
# container, the credential is one Query on the user's partition).
TARGET_DYNAMODB_PER_REQUEST = 1
TARGET_SECRETSMANAGER_PER_REQUEST = 0


@dataclass
class AwsCallCounter:
    """Counts botocore API calls while `active`, by service, operation and app call site."""

    active: bool = False
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    sites: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    all_clients: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def before_call(self, model: Any, **_: Any) -> None:
        """botocore `before-call` handler on the app's cached clients."""
        if not self.active:
            return
        service = str(model.service_model.service_name)
        operation = str(model.name)
        site = _app_call_site()
        with self._lock:
            self.calls[(service, operation)] += 1
            self.sites[(service, operation, site)] += 1

    def any_client_call(self, service: str) -> None:
        """Cross-check fed by every botocore client (including any the app creates later)."""
        if self.active:
            with self._lock:
                self.all_clients[service] += 1

    @contextmanager
    def counting(self) -> Iterator[None]:
        """Count the calls made inside the block."""
        self.active = True
        try:
            yield
        finally:
            self.active = False


def _app_call_site() -> str:
    """The innermost frame in the app's code (chalicelib/ or app.py, AWS plumbing skipped), as
    `path:line (function)`."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        plumbing = filename.endswith(("/adapters/aws.py", "/adapters/dynamo.py"))  # the repository is the caller
        if ("/chalicelib/" in filename and not plumbing) or filename.endswith("/app.py"):
            relative = os.path.relpath(filename, REPO_ROOT)
            return f"{relative}:{frame.f_lineno} ({frame.f_code.co_name})"
        frame = frame.f_back  # type: ignore[assignment]
    return "outside the app"


def _install_client_cross_check(counter: AwsCallCounter) -> Callable[[], None]:
    """Wrap BaseClient._make_api_call so calls from clients other than the cached ones show up."""
    from botocore.client import BaseClient

    original: Callable[..., Any] = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private, untyped

    def counted(self: Any, operation_name: str, api_params: Any) -> Any:
        counter.any_client_call(str(self.meta.service_model.service_name))
        return original(self, operation_name, api_params)

    setattr(BaseClient, "_make_api_call", counted)  # noqa: B010

    def restore() -> None:
        setattr(BaseClient, "_make_api_call", original)  # noqa: B010

    return restore


def _register_on_app_clients(counter: AwsCallCounter) -> list[str]:
    """Hook the counter on the clients the app caches (they exist once a request has run)."""
    from chalicelib.adapters import aws
    from chalicelib.wiring import get_services

    settings = get_services().settings
    dynamodb_client = aws.dynamodb_table(settings.table_name).client
    secrets_client = aws.secretsmanager()
    hooked = []
    for client in (dynamodb_client, secrets_client):
        client.meta.events.register("before-call", counter.before_call, unique_id="bench-proxy-counter")
        hooked.append(client.meta.service_model.service_name)
    return hooked


def _summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "median_ms": statistics.median(samples_ms),
        "p99_ms": percentile(samples_ms, 0.99),
        "mean_ms": statistics.fmean(samples_ms),
        "min_ms": min(samples_ms),
        "max_ms": max(samples_ms),
    }


def _timed_get(session: requests.Session, url: str, headers: dict[str, str]) -> tuple[float, bytes]:
    started = time.perf_counter()
    response = session.get(url, headers=headers, timeout=30)
    body = response.content
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url.split('?', 1)[0]} answered {response.status_code}: {body[:200]!r}")
    return elapsed_ms, body


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def run(requests_count: int, warmup: int) -> dict[str, Any]:
    """Start the stack, measure, stop the stack; returns the figures."""
    from tether.devstack import start_dev_stack
    from tether.sandbox_connect import connect_over_http
    from tether.tokens import sign_user_token

    started_at = time.perf_counter()
    stack = start_dev_stack(host="127.0.0.1", port=0, wpcom_port=0, state_file=None)
    # The app sets its loggers to INFO when imported (inside start_dev_stack): quiet them here.
    for name in ("tether", "wpcom_sandbox"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    counter = AwsCallCounter()
    restore_clients = _install_client_cross_check(counter)
    try:
        if stack.sandbox is None:
            raise RuntimeError("the local stack started without its WordPress.com sandbox")
        api_url = str(stack.state["apiUrl"])
        origin = str(stack.state["wpcomOrigin"])
        project_id = str(stack.state["projectId"])
        user_token = sign_user_token(stack.state["signingPrivateKeyPem"], BENCH_USER, 3600)
        connect_over_http(api_url, project_id, user_token)
        access_token = stack.sandbox.state.issued_tokens()[-1].token
        setup_seconds = time.perf_counter() - started_at

        direct_url = origin + DIRECT_PATH
        proxied_url = f"{api_url}/projects/{project_id}/sdk/proxy/wordpress/{PROXY_PATH}"
        direct_headers = {"Authorization": f"Bearer {access_token}"}
        proxied_headers = {"Authorization": f"Bearer {user_token}"}

        with requests.Session() as direct, requests.Session() as proxied:
            for session in (direct, proxied):
                session.trust_env = False  # loopback only: never through an environment proxy
            first_proxied_ms = None
            for i in range(warmup):
                _timed_get(direct, direct_url, direct_headers)
                elapsed, _ = _timed_get(proxied, proxied_url, proxied_headers)
                if i == 0:
                    first_proxied_ms = elapsed
            hooked = _register_on_app_clients(counter)

            reference_body = _timed_get(direct, direct_url, direct_headers)[1]
            direct_ms: list[float] = []
            proxied_ms: list[float] = []
            bodies_match = True
            measure_started = time.perf_counter()
            for i in range(requests_count):
                # Alternate which goes first so neither always runs right after the other's work.
                for kind in ("direct", "proxied") if i % 2 == 0 else ("proxied", "direct"):
                    if kind == "direct":
                        direct_ms.append(_timed_get(direct, direct_url, direct_headers)[0])
                        continue
                    with counter.counting():
                        elapsed, body = _timed_get(proxied, proxied_url, proxied_headers)
                    proxied_ms.append(elapsed)
                    bodies_match = bodies_match and body == reference_body
            measure_seconds = time.perf_counter() - measure_started
    finally:
        restore_clients()
        stack.stop()

    direct_summary = _summary(direct_ms)
    proxied_summary = _summary(proxied_ms)
    pair_added = [p - d for p, d in zip(proxied_ms, direct_ms, strict=True)]
    per_request = {f"{s}.{o}": count / requests_count for (s, o), count in sorted(counter.calls.items())}
    dynamodb_calls = sum(c for (s, _), c in counter.calls.items() if s == "dynamodb")
    secrets_calls = sum(c for (s, _), c in counter.calls.items() if s == "secretsmanager")
    all_calls = sum(counter.all_clients.values())
    return {
        "benchmark": "proxy",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "packages": {name: _package_version(name) for name in ("moto", "boto3", "botocore", "chalice", "requests")},
        },
        "requests": requests_count,
        "warmup": warmup,
        "request": {
            "direct": f"GET {DIRECT_PATH}",
            "proxied": f"GET /projects/{{pid}}/sdk/proxy/wordpress/{PROXY_PATH}",
        },
        "setup_seconds": round(setup_seconds, 3),
        "measure_seconds": round(measure_seconds, 3),
        "first_proxied_request_ms": first_proxied_ms,
        "bodies_match": bodies_match,
        "latency_ms": {
            "direct": direct_summary,
            "proxied": proxied_summary,
            "added": {
                "median_ms": proxied_summary["median_ms"] - direct_summary["median_ms"],
                "p99_ms": proxied_summary["p99_ms"] - direct_summary["p99_ms"],
                "paired_median_ms": statistics.median(pair_added),
            },
            "ratio": {
                "median": proxied_summary["median_ms"] / direct_summary["median_ms"],
                "p99": proxied_summary["p99_ms"] / direct_summary["p99_ms"],
            },
        },
        "aws_calls": {
            "hooked_clients": hooked,
            "dynamodb_per_request": dynamodb_calls / requests_count,
            "secretsmanager_per_request": secrets_calls / requests_count,
            "all_clients_per_request": all_calls / requests_count,
            "per_request_by_operation": per_request,
            "by_call_site": [
                {"service": s, "operation": o, "site": site, "calls": c}
                for (s, o, site), c in counter.sites.most_common()
            ],
            "target": {
                "dynamodb_per_request_max": TARGET_DYNAMODB_PER_REQUEST,
                "secretsmanager_per_request_max": TARGET_SECRETSMANAGER_PER_REQUEST,
            },
            "within_target": dynamodb_calls <= TARGET_DYNAMODB_PER_REQUEST * requests_count
            and secrets_calls <= TARGET_SECRETSMANAGER_PER_REQUEST * requests_count,
        },
    }


def print_report(result: dict[str, Any]) -> None:
    """A compact table of the figures."""
    machine = result["machine"]
    latency = result["latency_ms"]
    aws = result["aws_calls"]
    print(
        f"proxy bench: {result['requests']} requests each (+{result['warmup']} warm-up), "
        f"{machine['cpu_count']} CPUs, {machine['platform']}, Python {machine['python']}"
    )
    print(f"  setup {result['setup_seconds']:.1f} s, measured phase {result['measure_seconds']:.1f} s")
    print()
    print(f"  {'':<10}{'median':>10}{'p99':>10}")
    for name in ("direct", "proxied", "added"):
        row = latency[name]
        print(f"  {name:<10}{row['median_ms']:>8.2f}ms{row['p99_ms']:>8.2f}ms")
    ratio = latency["ratio"]
    print(f"  {'ratio':<10}{ratio['median']:>9.2f}x{ratio['p99']:>9.2f}x")
    print(f"  (added, paired per iteration: median {latency['added']['paired_median_ms']:.2f} ms)")
    if not result["bodies_match"]:
        print("  NOTE: a proxied body differed from the direct one")
    print()
    print(
        f"  AWS calls per warm proxied request: DynamoDB {aws['dynamodb_per_request']:.2f} "
        f"(target <= {aws['target']['dynamodb_per_request_max']}), Secrets Manager "
        f"{aws['secretsmanager_per_request']:.2f} (target {aws['target']['secretsmanager_per_request_max']})"
        + ("" if aws["within_target"] else "  <-- over target")
    )
    for name, per in aws["per_request_by_operation"].items():
        print(f"    {name:<34}{per:.2f}/request")
    for entry in aws["by_call_site"]:
        print(f"      {entry['operation']:<14}{entry['calls']:>5}x  from {entry['site']}")
    hooked_total = aws["dynamodb_per_request"] + aws["secretsmanager_per_request"]
    if abs(aws["all_clients_per_request"] - hooked_total) > 1e-9:
        print(
            f"  NOTE: {aws['all_clients_per_request']:.2f} calls/request from all botocore clients, "
            f"vs {hooked_total:.2f} on the app's cached clients"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=300, help="measured requests of each kind (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up requests of each kind (default 30)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 1:
        parser.error("--requests and --warmup must be at least 1")
    result = run(args.requests, args.warmup)
    print_report(result)
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n  written to {RESULTS_FILE.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
