"""Schedule fan-out: how long one tick takes to start a run for every enabled user.

Runs in one process on moto (no AWS account). Seeds a project with `--users` end users, each
with a valid WordPress.com credential and a schedule-triggered workflow on by default, then
dispatches one tick with the same `dispatch_tick` the `schedule_dispatcher` Lambda and the local
scheduler loop call, and the same tick again (a re-delivery, which must start nothing). moto's
Step Functions records each execution without running it (`execute_state_machine` off): the
figure is the dispatcher's own cost (users read in pages, per-user state and credential reads,
the trigger claim, the run record, StartExecution), not the runs' work. AWS calls are counted
by operation. Nothing is asserted about timing.

    .venv/bin/python bench/schedule.py              # --users 500 --page-size 100
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tether.devstack import LOCAL_AWS_ENV

WORKFLOW = {
    "name": "Morning digest",
    "integration": "wordpress",
    "defaultEnabled": True,
    "trigger": {"type": "schedule", "cron": "0 9 * * *", "timezone": "Europe/Paris"},
    "steps": [{"id": "me", "type": "request", "method": "GET", "path": "v1.1/me"}],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    os.environ.update(LOCAL_AWS_ENV)
    os.environ["TETHER_STAGE"] = "bench"
    os.environ["TETHER_SCHEDULE_PAGE_SIZE"] = str(args.page_size)
    from moto import mock_aws

    with mock_aws():
        run(args.users)


def run(user_count: int) -> None:
    from chalicelib.adapters import aws
    from chalicelib.domain.clock import utc_now_iso
    from chalicelib.domain.models import CREDENTIAL_VALID, Credential
    from chalicelib.services.projects import create_project
    from chalicelib.services.schedules import dispatch_tick
    from chalicelib.services.workflows import deploy_workflow
    from chalicelib.wiring import get_services, reset_services
    from tether import provision

    calls: Counter[str] = Counter()
    counting = False

    def count(model: Any, **_: Any) -> None:
        if counting:
            calls[f"{model.service_model.service_name}:{model.name}"] += 1

    reset_services()
    # Clients copy their session's event hooks when created: register before any exists.
    aws._session().register("before-call", count)
    provision.ensure_deployment()
    services = get_services()
    project_id = create_project(services.projects, "Bench").project.id
    deploy_workflow(services.workflow_ports, project_id, "digest", WORKFLOW, utc_now_iso())
    seeded = time.perf_counter()
    for n in range(user_count):
        user_id = f"user-{n:05d}"
        now = utc_now_iso()
        services.users.get_or_create(project_id, user_id, now)
        credential = Credential(
            project_id=project_id,
            user_id=user_id,
            id=f"cred-{n:05d}",
            integration_type="wordpress",
            status=CREDENTIAL_VALID,
            provider_account_id=str(n),
            provider_data={},
            scopes=("global",),
            uses_dev_keys=False,
            created_at=now,
            updated_at=now,
        )
        services.credentials.save(credential, {"access_token": f"token-{n}", "token_type": "bearer"})
    print(f"seeded {user_count} connected users in {time.perf_counter() - seeded:.1f} s")

    counting = True
    tick = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    started = time.perf_counter()
    result = dispatch_tick(services.run_ports, project_id, "digest", tick)
    elapsed = time.perf_counter() - started
    first_calls = Counter(calls)
    calls.clear()
    again_started = time.perf_counter()
    again = dispatch_tick(services.run_ports, project_id, "digest", tick)
    again_elapsed = time.perf_counter() - again_started

    started_count = len(result.started)
    print(f"tick 1: started {started_count} runs for {user_count} users in {elapsed:.2f} s")
    print(f"        {started_count / elapsed:.0f} runs/s, {1000 * elapsed / max(started_count, 1):.1f} ms per run")
    print(f"        AWS calls per user: {sum(first_calls.values()) / user_count:.1f}")
    for name, number in sorted(first_calls.items()):
        print(f"          {name:40s} {number}")
    repeated = f"started {len(again.started)}, already started {again.repeated}"
    print(f"re-delivered tick: {repeated}, in {again_elapsed:.2f} s")
    lost = user_count - started_count - result.failed
    print(f"failed to start: {result.failed}; lost: {lost}")


if __name__ == "__main__":
    main()
