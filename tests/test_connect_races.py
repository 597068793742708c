"""Connect flow edge cases around time and concurrency: session expiry on an injected clock, a
callback for an integration deactivated mid-flow, concurrent callbacks of one user and the
development-keys cap under concurrent connects."""

from __future__ import annotations

import itertools
import json
import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from tests import connect_flow
from tests.conftest import Api, ProjectHandle
from tests.test_sdk_auth import assert_refused
from wpcom_sandbox.server import WordPressSandbox


def credentials_in_table() -> list[dict[str, Any]]:
    items = boto3.resource("dynamodb").Table("tether-test").scan()["Items"]
    return [item for item in items if str(item["SK"]).startswith("CREDENTIAL#")]


def session(api: Api, attempt: connect_flow.Attempt) -> Any:
    path = f"/projects/{attempt.project.id}/sdk/actions/session-id/{attempt.session_id}"
    return api.call("GET", path, token=attempt.token)


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_session_is_readable_until_it_expires(api: Api, project: ProjectHandle, sandbox: WordPressSandbox) -> None:
    from chalicelib.services.connect import SESSION_TTL_SECONDS
    from chalicelib.wiring import get_services

    clock = FakeClock(float(int(time.time())))
    get_services().clock = clock
    started = clock.now
    attempt = connect_flow.start(api, project, sandbox, "alice", decision="deny")
    connect_flow.callback(api, attempt)
    clock.now = started + SESSION_TTL_SECONDS - 1
    last_second = session(api, attempt)
    assert last_second.status == 200
    assert last_second.json["status"] == "ERROR"
    pseudo = last_second.json["connectCredentialId"]
    credential_path = f"/projects/{project.id}/sdk/credentials/{pseudo}"
    assert api.call("GET", credential_path, token=attempt.token).json["code"] == "oauth_access_denied"
    # DynamoDB's TTL sweep lags: the item is still there, but the session is over.
    clock.now = started + SESSION_TTL_SECONDS
    assert_refused(session(api, attempt), status=404, code="session_not_found", message="No such connect session.")
    assert_refused(api.call("GET", credential_path, token=attempt.token), status=404, code="session_not_found")
    clock.now = started + SESSION_TTL_SECONDS + 3600
    assert_refused(session(api, attempt), status=404, code="session_not_found")


def test_callback_refuses_an_integration_deactivated_after_consent(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    attempt = connect_flow.start(api, project, sandbox, "alice")
    body = {"clientId": None, "clientSecret": None, "scopes": [], "active": False}
    put = api.call("PUT", f"/projects/{project.id}/integrations/wordpress", body=body, headers=project.admin)
    assert put.status == 200
    page = connect_flow.callback(api, attempt)
    assert page.status == 403
    assert b"not active" in page.body
    polled = session(api, attempt).json
    assert polled["status"] == "ERROR"
    assert polled["error"]["code"] == "integration_inactive"
    assert credentials_in_table() == []
    assert sandbox.state.issued_tokens() == []  # the code was never even exchanged


def test_callback_sees_a_deactivation_made_by_another_container(
    api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    from chalicelib.services.integrations import SettingsInput, put_integration_settings
    from chalicelib.wiring import get_services

    attempt = connect_flow.start(api, project, sandbox, "alice")
    services = get_services()
    config = services.project_configs.get(project.id)  # this container's cache says: active
    assert config is not None
    # Another container deactivates it; this container's cache is not told.
    put_integration_settings(
        services.projects,
        services.secrets,
        services.settings.client_secret_id(project.id, "wordpress"),
        config,
        "wordpress",
        SettingsInput(client_id=None, client_secret=None, keep_secret=False, scopes=(), active=False),
    )
    page = connect_flow.callback(api, attempt)
    assert page.status == 403
    assert session(api, attempt).json["error"]["code"] == "integration_inactive"
    assert credentials_in_table() == []


# --- Concurrent callbacks -------------------------------------------------------------------
#
# Each racing callback runs in its own thread with its own ports over its own gated table.
# Every DynamoDB request passes a scheduler that lets
# one thread at a time issue one request, once every live thread waits at it. So each request
# is atomic, as DynamoDB's are, and the order of the racers' requests is the scheduler's:
#
# - two racers: every schedule with one preemption ("A issues k requests, then B runs to
#   the end, then A finishes", for every k and both As), which includes both serial orders
#   and every point at which a second callback can cut into the first;
# - more racers: interleavings drawn from seeded random generators.
#
# Both are deterministic: a failure replays from the schedule named in the assertion.

SEEDS = int(os.environ.get("TETHER_RACE_SEEDS", "5"))
DB_CALLS = {"get_item", "put_item", "update_item", "delete_item", "query", "scan", "transact_write_items"}


class Scheduler:
    """Serialises the racing threads' DynamoDB requests: `first` issues `preempt_after`
    requests, then the others run to their end, then `first` goes on; or, with a seed, the next
    thread is drawn at random at every request."""

    def __init__(self, names: list[str], *, seed: int = 0, first: str | None = None, preempt_after: int = 0) -> None:
        self._cond = threading.Condition()
        self._live = set(names)
        self._waiting: set[str] = set()
        self._running: str | None = None
        self._seed = seed
        self._random = random.Random(seed)
        self._first = first
        self._preempt_after = preempt_after
        self._issued = dict.fromkeys(names, 0)
        self.preempted = False
        self.trace: list[str] = []

    def __repr__(self) -> str:
        if self._first is None:
            return f"Scheduler(seed={self._seed})"
        return f"Scheduler(first={self._first!r}, preempt_after={self._preempt_after})"

    def _pick(self) -> str:
        waiting = sorted(self._waiting)
        if self._first is None:
            return self._random.choice(waiting)
        others = [name for name in waiting if name != self._first]
        if self._first not in self._waiting or (others and self._issued[self._first] >= self._preempt_after):
            self.preempted = self.preempted or self._first in self._waiting
            return others[0]
        return self._first

    def request(self, name: str, what: str) -> None:
        """Block until it is `name`'s turn to issue one request."""
        with self._cond:
            if self._running == name:
                self._running = None
            self._waiting.add(name)
            self._cond.notify_all()
            deadline = time.monotonic() + 60
            while self._running != name:
                if self._running is None and self._waiting == self._live:
                    self._running = self._pick()
                    self._cond.notify_all()
                    continue
                if time.monotonic() > deadline:
                    raise RuntimeError(f"scheduler stuck: {self.trace}")
                self._cond.wait(timeout=1)
            self._waiting.discard(name)
            self._issued[name] += 1
            self.trace.append(f"{name}: {what}")

    def finish(self, name: str) -> None:
        with self._cond:
            self._live.discard(name)
            if self._running == name:
                self._running = None
            self._cond.notify_all()


@contextmanager
def replay(scheduler: Scheduler) -> Iterator[None]:
    """Name the schedule (and its requests) on a failure, to replay it."""
    try:
        yield
    except (AssertionError, ValueError) as error:
        error.add_note(f"{scheduler!r}; requests: {scheduler.trace}")
        raise


def one_preemption_schedules(names: list[str]) -> Iterator[Scheduler]:
    """Every schedule of two racers with at most one preemption (see above)."""
    for first in names:
        for preempt_after in itertools.count():
            scheduler = Scheduler(names, first=first, preempt_after=preempt_after)
            yield scheduler
            if not scheduler.preempted:
                break  # `first` ran to its end before the other started: nothing later differs


def random_schedules(names: list[str]) -> Iterator[Scheduler]:
    """`SEEDS` seeded random interleavings."""
    for seed in range(SEEDS):
        yield Scheduler(names, seed=seed)


class GatedTable:
    """A table whose requests wait for the scheduler; optionally fails credential writes."""

    def __init__(self, table: Any, name: str) -> None:
        self._table = table
        self.name = table.name
        self.thread = name
        self.scheduler: Scheduler | None = None
        self.fail_credential_writes = False

    def gate(self, call: str, params: dict[str, Any]) -> None:
        if self.scheduler is not None:
            self.scheduler.request(self.thread, f"{call} {_touched(params)}")
        writes = call in {"put_item", "transact_write_items"}
        if self.fail_credential_writes and writes and "CREDENTIAL#" in _touched(params):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "test"}}, call)

    def __getattr__(self, attr: str) -> Any:
        target = getattr(self._table, attr)
        if attr not in DB_CALLS:
            return target

        def call(**params: Any) -> Any:
            self.gate(attr, params)
            return target(**params)

        return call


def _touched(params: dict[str, Any]) -> str:
    """The sort keys a request addresses, for the trace and the fault injection."""
    found: list[str] = []
    for entry in params.get("TransactItems", [params]):
        for op in entry.values() if "TransactItems" in params else [entry]:
            key = op.get("Key") or op.get("Item") or {}
            if "SK" in key:
                found.append(str(key["SK"]))
    return ",".join(found)


class Racer:
    """One racing thread's ports and callback configuration cache."""

    def __init__(self, name: str) -> None:
        from chalicelib.adapters import aws
        from chalicelib.adapters.connections import (
            ConnectSessionRepository,
            CredentialRepository,
            DevKeyUsage,
            OAuthStateRepository,
        )
        from chalicelib.adapters.repositories import ProjectRepository, UserRepository
        from chalicelib.services.connect import ConnectPorts
        from chalicelib.services.project_config import ProjectConfigCache
        from chalicelib.wiring import get_services

        services = get_services()
        self.table = GatedTable(aws.dynamodb_table(services.settings.table_name), name)
        self.ports = ConnectPorts(
            settings=services.settings,
            secrets=services.secrets,
            credentials=CredentialRepository(self.table, services.encryptor),
            sessions=ConnectSessionRepository(self.table),
            states=OAuthStateRepository(self.table),
            dev_keys=DevKeyUsage(self.table),
            users=UserRepository(self.table),
            clock=services.clock,
        )
        self.configs = ProjectConfigCache(ProjectRepository(self.table).load_config, 30)


def race(racers: list[Racer], jobs: list[Callable[[Racer], Any]], scheduler: Scheduler) -> list[Any]:
    """Run `jobs[i]` with `racers[i]`, all at once under the scheduler; their results (or errors)."""
    results: list[Any] = [None] * len(jobs)

    def run(index: int) -> None:
        racer = racers[index]
        try:
            results[index] = jobs[index](racer)
        except Exception as error:  # noqa: BLE001 - the caller's assertions report it
            results[index] = error
        finally:
            scheduler.finish(racer.table.thread)

    for racer in racers:
        racer.table.scheduler = scheduler
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for racer in racers:
        racer.table.scheduler = None
        racer.table.fail_credential_writes = False
    assert not any(thread.is_alive() for thread in threads), scheduler.trace
    return results


@pytest.fixture
def roomy_cap(sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Room on the development keys for every user the schedules connect."""
    from chalicelib.wiring import reset_services

    monkeypatch.setenv("TETHER_DEV_KEYS_MAX_USERS", "1000")
    reset_services()


@dataclass
class Pending:
    """A connect attempt up to the provider's redirect back to the callback."""

    project_id: str
    user_id: str
    session_id: str
    query: dict[str, str]
    cookie: str


def begin(
    setup: Racer, project_id: str, user_id: str, sandbox: WordPressSandbox, account: str, allow_multiple: bool = False
) -> Pending:
    """build-oauth for the user (whose token was verified) and consent at the sandbox."""
    from chalicelib.services.connect import browser_binding, start_connect
    from chalicelib.services.user_tokens import VerifiedUser

    config = setup.configs.get(project_id, fresh=True)
    assert config is not None
    session_id = secrets.token_hex(8)
    user = VerifiedUser(project_id, user_id, {})
    url = start_connect(setup.ports, config, user, "wordpress", session_id, allow_multiple)
    consent = requests.get(f"{url}&sandbox_auto=approve&sandbox_user={account}", allow_redirects=False, timeout=10)
    query = parse_qs(urlsplit(consent.headers["Location"]).query)
    cookie = browser_binding(project_id, user_id)
    return Pending(project_id, user_id, session_id, {k: v[0] for k, v in query.items()}, cookie)


def callback_job(pending: Pending) -> Callable[[Racer], Any]:
    """A job that delivers the provider's redirect to the callback use case."""
    from chalicelib.services.connect import complete_oauth

    def job(racer: Racer) -> Any:
        return complete_oauth(racer.ports, racer.configs, pending.query, pending.cookie)

    return job


def stored_ids(setup: Racer, project_id: str, user_id: str) -> set[str]:
    return {c.id for c in setup.ports.credentials.list_for_user(project_id, user_id)}


def polled(setup: Racer, attempts: list[Pending]) -> list[dict[str, Any]]:
    """Each session as the SDK polls it; none reports a credential that does not exist."""
    from chalicelib.services.connect import read_session
    from chalicelib.services.user_tokens import VerifiedUser

    views = []
    for attempt in attempts:
        view = read_session(setup.ports, VerifiedUser(attempt.project_id, attempt.user_id, {}), attempt.session_id)
        if view["status"] == "COMPLETE":
            reported = view["connectCredentialId"]
            assert reported in stored_ids(setup, attempt.project_id, attempt.user_id), f"{reported} was deleted"
        views.append(view)
    return views


def assert_seats_consistent(setup: Racer, project_id: str, user_ids: list[str]) -> None:
    """A user holds a dev-keys seat exactly when they hold a dev-key credential, and their seat
    lists exactly those credentials."""
    from chalicelib.adapters import keys

    table = setup.table
    users_item = table.get_item(Key=keys.dev_key_users(project_id).as_item(), ConsistentRead=True).get("Item", {})
    seated = set(users_item.get("users", set()))
    for user_id in user_ids:
        dev = {c.id for c in setup.ports.credentials.list_for_user(project_id, user_id) if c.uses_dev_keys}
        seat = table.get_item(Key=keys.dev_key_seat(project_id, user_id).as_item(), ConsistentRead=True).get("Item", {})
        assert set(seat.get("credentials", set())) == dev, (user_id, seat, dev)
        assert (user_id in seated) == bool(dev), (user_id, seated, dev)


def test_the_same_account_connected_twice_at_once_is_one_credential(
    project: ProjectHandle, sandbox: WordPressSandbox, roomy_cap: None
) -> None:
    setup, racers = Racer("setup"), [Racer("first"), Racer("second")]
    accounts = [u.username for u in sandbox.state.all_users()]
    for n, scheduler in enumerate(one_preemption_schedules([r.table.thread for r in racers])):
        with replay(scheduler):
            user_id = f"same-{n}"
            earlier = begin(setup, project.id, user_id, sandbox, accounts[1])
            assert callback_job(earlier)(setup).status == 200
            attempts = [begin(setup, project.id, user_id, sandbox, accounts[0]) for _ in racers]
            outcomes = race(racers, [callback_job(a) for a in attempts], scheduler)
            assert [getattr(o, "status", o) for o in outcomes] == [200, 200], outcomes
            [stored] = stored_ids(setup, project.id, user_id)
            assert [v["connectCredentialId"] for v in polled(setup, attempts)] == [stored, stored]
            assert polled(setup, [earlier])[0]["error"]["code"] == "credential_removed"
            assert_seats_consistent(setup, project.id, [user_id])


def test_one_state_delivered_twice_at_once_connects_once(
    project: ProjectHandle, sandbox: WordPressSandbox, roomy_cap: None
) -> None:
    """Two deliveries of the same redirect (a double click, a reloaded popup): whether the second
    finds the state gone or loses the consume to the first, it is refused and the code is
    exchanged once."""
    setup, racers = Racer("setup"), [Racer("first"), Racer("second")]
    account = sandbox.state.all_users()[0].username
    for n, scheduler in enumerate(one_preemption_schedules([r.table.thread for r in racers])):
        with replay(scheduler):
            attempt = begin(setup, project.id, f"twice-{n}", sandbox, account)
            exchanges = len(sandbox.state.recorded_requests("/oauth2/token"))
            outcomes = race(racers, [callback_job(attempt)] * 2, scheduler)
            [connected] = [o for o in outcomes if getattr(o, "ok", False)]
            [refused] = [o for o in outcomes if o is not connected]
            assert (refused.status, refused.ok, refused.title, refused.detail) == (
                400,
                False,
                "Connection failed",
                "This sign-in response was already used or is not known.",
            ), outcomes
            assert len(sandbox.state.recorded_requests("/oauth2/token")) == exchanges + 1
            [stored] = stored_ids(setup, project.id, f"twice-{n}")
            assert polled(setup, [attempt])[0]["connectCredentialId"] == stored


def test_two_accounts_at_once_leave_only_the_last_writers(
    project: ProjectHandle, sandbox: WordPressSandbox, roomy_cap: None
) -> None:
    setup, racers = Racer("setup"), [Racer("first"), Racer("second")]
    accounts = [u.username for u in sandbox.state.all_users()]
    winners: set[int] = set()
    for n, scheduler in enumerate(one_preemption_schedules([r.table.thread for r in racers])):
        with replay(scheduler):
            user_id = f"two-{n}"
            attempts = [begin(setup, project.id, user_id, sandbox, accounts[i]) for i in range(2)]
            outcomes = race(racers, [callback_job(a) for a in attempts], scheduler)
            [stored] = stored_ids(setup, project.id, user_id)
            views = polled(setup, attempts)
            complete = [i for i, view in enumerate(views) if view["status"] == "COMPLETE"]
            assert len(complete) == 1, (views, outcomes)
            [winner] = complete
            winners.add(winner)
            assert views[winner]["connectCredentialId"] == stored
            loser = views[1 - winner]["error"]
            assert (loser["code"], loser["message"]) in {
                ("connect_superseded", "A later connection of this integration replaced this one; it was not stored."),
                (
                    "credential_removed",
                    "The account connected here was disconnected or replaced by a later connection.",
                ),
            }, loser
            assert_seats_consistent(setup, project.id, [user_id])
    assert winners == {0, 1}  # the schedules raced both ways


def test_two_accounts_at_once_with_multiple_allowed_are_both_kept(
    project: ProjectHandle, sandbox: WordPressSandbox, roomy_cap: None
) -> None:
    setup, racers = Racer("setup"), [Racer("first"), Racer("second")]
    accounts = [u.username for u in sandbox.state.all_users()]
    for n, scheduler in enumerate(random_schedules([r.table.thread for r in racers])):
        with replay(scheduler):
            user_id = f"multi-{n}"
            attempts = [begin(setup, project.id, user_id, sandbox, accounts[i], allow_multiple=True) for i in range(2)]
            race(racers, [callback_job(a) for a in attempts], scheduler)
            stored = stored_ids(setup, project.id, user_id)
            assert len(stored) == 2
            assert {v["connectCredentialId"] for v in polled(setup, attempts)} == stored
            assert_seats_consistent(setup, project.id, [user_id])


def test_dev_keys_cap_holds_when_users_connect_at_once(
    make_project: Any, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.wiring import reset_services

    cap, contenders = 2, 5
    monkeypatch.setenv("TETHER_DEV_KEYS_MAX_USERS", str(cap))
    reset_services()
    setup, racers = Racer("setup"), [Racer(f"user-{i}") for i in range(contenders)]
    account = sandbox.state.all_users()[0].username
    for scheduler in random_schedules([r.table.thread for r in racers]):
        with replay(scheduler):
            project = make_project(key_index=0)
            user_ids = [f"cap-{i}" for i in range(contenders)]
            # Every build-oauth passes the early check: nobody holds a seat yet.
            attempts = [begin(setup, project.id, user_id, sandbox, account) for user_id in user_ids]
            outcomes = race(racers, [callback_job(a) for a in attempts], scheduler)
            statuses = sorted(getattr(o, "status", o) for o in outcomes)
            assert statuses == [200] * cap + [403] * (contenders - cap), outcomes
            assert sum(len(stored_ids(setup, project.id, user_id)) for user_id in user_ids) == cap
            assert_seats_consistent(setup, project.id, user_ids)
            refused = [a for a, o in zip(attempts, outcomes, strict=True) if o.status == 403]
            assert {v["error"]["code"] for v in polled(setup, refused)} == {"dev_keys_user_cap"}


def test_a_disconnect_racing_a_connect_never_strands_a_seat(
    project: ProjectHandle, sandbox: WordPressSandbox, roomy_cap: None
) -> None:
    from chalicelib.services.credentials import delete_credential

    setup, racers = Racer("setup"), [Racer("connect"), Racer("disconnect")]
    accounts = [u.username for u in sandbox.state.all_users()]
    for n, scheduler in enumerate(one_preemption_schedules([r.table.thread for r in racers])):
        with replay(scheduler):
            user_id = f"seat-{n}"
            earlier = begin(setup, project.id, user_id, sandbox, accounts[0])
            assert callback_job(earlier)(setup).status == 200
            [old] = stored_ids(setup, project.id, user_id)
            attempt = begin(setup, project.id, user_id, sandbox, accounts[1], allow_multiple=True)

            def disconnect(racer: Racer, old: str = old, user_id: str = user_id) -> Any:
                return delete_credential(racer.ports.credentials, project.id, user_id, old)

            outcomes = race(racers, [callback_job(attempt), disconnect], scheduler)
            assert outcomes[0].status == 200, outcomes
            # The disconnect reads the seat again when the connect changed it meanwhile: it succeeds.
            assert getattr(outcomes[1], "id", outcomes[1]) == old, outcomes
            [stored] = stored_ids(setup, project.id, user_id)
            assert stored != old
            assert_seats_consistent(setup, project.id, [user_id])


def test_two_disconnects_of_one_credential_at_once_delete_it_once(
    project: ProjectHandle, sandbox: WordPressSandbox, roomy_cap: None
) -> None:
    from chalicelib.domain.errors import NotFound
    from chalicelib.services.credentials import delete_credential

    setup, racers = Racer("setup"), [Racer("first"), Racer("second")]
    account = sandbox.state.all_users()[0].username
    for n, scheduler in enumerate(one_preemption_schedules([r.table.thread for r in racers])):
        with replay(scheduler):
            user_id = f"twice-{n}"
            attempt = begin(setup, project.id, user_id, sandbox, account)
            assert callback_job(attempt)(setup).status == 200
            [stored] = stored_ids(setup, project.id, user_id)

            def disconnect(racer: Racer, user_id: str = user_id, stored: str = stored) -> Any:
                return delete_credential(racer.ports.credentials, project.id, user_id, stored)

            outcomes = race(racers, [disconnect, disconnect], scheduler)
            # Whether the second reads before or after the first deletes: one delete, one 404.
            [deleted] = [o for o in outcomes if not isinstance(o, Exception)]
            [refused] = [o for o in outcomes if isinstance(o, Exception)]
            assert deleted.id == stored
            assert isinstance(refused, NotFound), outcomes
            assert (refused.status, refused.code, refused.message) == (
                404,
                "credential_not_found",
                "No such credential.",
            )
            assert stored_ids(setup, project.id, user_id) == set()
            assert_seats_consistent(setup, project.id, [user_id])


def test_disconnects_of_a_users_two_credentials_at_once_both_succeed_and_free_the_seat(
    project: ProjectHandle, sandbox: WordPressSandbox, roomy_cap: None
) -> None:
    """Each disconnect reads the seat holding both credentials; whichever commits second finds it
    changed (now its credential is the last), reads it again and frees the seat."""
    from chalicelib.services.credentials import delete_credential

    setup, racers = Racer("setup"), [Racer("first"), Racer("second")]
    accounts = [u.username for u in sandbox.state.all_users()]
    for n, scheduler in enumerate(one_preemption_schedules([r.table.thread for r in racers])):
        with replay(scheduler):
            user_id = f"both-{n}"
            for account in accounts[:2]:
                assert (
                    callback_job(begin(setup, project.id, user_id, sandbox, account, allow_multiple=True))(setup).status
                    == 200
                )
            held = sorted(stored_ids(setup, project.id, user_id))
            assert len(held) == 2

            def disconnect(credential_id: str, user_id: str = user_id) -> Callable[[Racer], Any]:
                return lambda racer: delete_credential(racer.ports.credentials, project.id, user_id, credential_id)

            outcomes = race(racers, [disconnect(held[0]), disconnect(held[1])], scheduler)
            assert [getattr(o, "id", o) for o in outcomes] == held, outcomes
            assert stored_ids(setup, project.id, user_id) == set()
            assert_seats_consistent(setup, project.id, [user_id])


def test_a_replacing_connect_racing_a_disconnect_of_one_it_replaces(
    project: ProjectHandle, sandbox: WordPressSandbox, roomy_cap: None
) -> None:
    """The user holds two accounts; a third replaces both while one of them is disconnected. The
    sweep meets that one deleted (or the disconnect meets it swept): the connect still succeeds
    and removes the other, the disconnect succeeds or is a 404."""
    from chalicelib.domain.errors import NotFound
    from chalicelib.services.credentials import delete_credential

    setup, racers = Racer("setup"), [Racer("connect"), Racer("disconnect")]
    accounts = [u.username for u in sandbox.state.all_users()]
    assert len(accounts) >= 3
    for n, scheduler in enumerate(one_preemption_schedules([r.table.thread for r in racers])):
        with replay(scheduler):
            user_id = f"sweep-{n}"
            for account in accounts[:2]:
                job = callback_job(begin(setup, project.id, user_id, sandbox, account, allow_multiple=True))
                assert job(setup).status == 200
            held = sorted(stored_ids(setup, project.id, user_id))
            replacing = begin(setup, project.id, user_id, sandbox, accounts[2])

            def disconnect(racer: Racer, user_id: str = user_id, gone: str = held[1]) -> Any:
                return delete_credential(racer.ports.credentials, project.id, user_id, gone)

            outcomes = race(racers, [callback_job(replacing), disconnect], scheduler)
            assert outcomes[0].status == 200, outcomes
            assert getattr(outcomes[1], "id", None) == held[1] or isinstance(outcomes[1], NotFound), outcomes
            [stored] = stored_ids(setup, project.id, user_id)
            assert stored not in held
            assert polled(setup, [replacing])[0]["connectCredentialId"] == stored
            assert_seats_consistent(setup, project.id, [user_id])


def test_a_failed_save_racing_a_connect_never_strands_a_seat(
    project: ProjectHandle, sandbox: WordPressSandbox, roomy_cap: None
) -> None:
    setup, racers = Racer("setup"), [Racer("fails"), Racer("succeeds")]
    accounts = [u.username for u in sandbox.state.all_users()]
    for n, scheduler in enumerate(one_preemption_schedules([r.table.thread for r in racers])):
        with replay(scheduler):
            user_id = f"failing-{n}"
            attempts = [begin(setup, project.id, user_id, sandbox, accounts[i], allow_multiple=True) for i in range(2)]
            racers[0].table.fail_credential_writes = True
            outcomes = race(racers, [callback_job(a) for a in attempts], scheduler)
            assert [o.status for o in outcomes] == [502, 200], outcomes
            [stored] = stored_ids(setup, project.id, user_id)
            assert polled(setup, attempts)[1]["connectCredentialId"] == stored
            assert_seats_consistent(setup, project.id, [user_id])


def test_a_reconnect_racing_a_replacing_connect(
    project: ProjectHandle, sandbox: WordPressSandbox, roomy_cap: None
) -> None:
    """Reconnecting account 0 while account 1 replaces it ends as one of the serial orders:
    only account 1's credential, or only account 0's (connected anew after the replace)."""
    setup, racers = Racer("setup"), [Racer("reconnect"), Racer("replace")]
    accounts = [u.username for u in sandbox.state.all_users()]
    for n, scheduler in enumerate(one_preemption_schedules([r.table.thread for r in racers])):
        with replay(scheduler):
            user_id = f"reconnect-{n}"
            earlier = begin(setup, project.id, user_id, sandbox, accounts[0])
            assert callback_job(earlier)(setup).status == 200
            attempts = [begin(setup, project.id, user_id, sandbox, accounts[i]) for i in range(2)]
            race(racers, [callback_job(a) for a in attempts], scheduler)
            [stored] = stored_ids(setup, project.id, user_id)
            views = polled(setup, attempts)
            assert [v["connectCredentialId"] for v in views if v["status"] == "COMPLETE"] == [stored], views
            # The other ends as a serial order would end it: replaced, never a storage conflict.
            for view in views:
                if view["status"] != "COMPLETE":
                    assert view["error"]["code"] in {"connect_superseded", "credential_removed"}, views
            assert_seats_consistent(setup, project.id, [user_id])


class _ConflictingClient:
    """A DynamoDB client whose first `conflicts` transactions collide with another one."""

    def __init__(self, client: Any, conflicts: int) -> None:
        self._client = client
        self.conflicts = conflicts
        self.calls = 0

    def transact_write_items(self, **params: Any) -> Any:
        self.calls += 1
        if self.calls <= self.conflicts:
            reasons = [{"Code": "TransactionConflict"} for _ in params["TransactItems"]]
            error = {"Error": {"Code": "TransactionCanceledException", "Message": "conflict"}}
            raise ClientError({**error, "CancellationReasons": reasons}, "TransactWriteItems")
        return self._client.transact_write_items(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.mark.parametrize("conflicts", [1, 3, 4])
def test_a_transaction_conflict_is_retried_a_few_times(
    aws_env: None, conflicts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.adapters import aws, connections
    from chalicelib.adapters.connections import TRANSACTION_ATTEMPTS, CredentialRepository
    from chalicelib.adapters.dynamo import Table
    from chalicelib.domain.errors import UpstreamError
    from chalicelib.domain.models import Credential
    from chalicelib.wiring import get_services

    services = get_services()
    client = _ConflictingClient(aws.dynamodb(), conflicts)
    table = Table(services.settings.table_name, lambda: cast(Any, client))
    slept: list[float] = []
    # The jitter's bounds, recorded: each wait is drawn from [0, 50 ms x the attempt].
    drawn: list[tuple[float, float]] = []
    monkeypatch.setattr(connections.random, "uniform", lambda low, high: drawn.append((low, high)) or high)
    repository = CredentialRepository(table, services.encryptor, sleep=slept.append)
    credential = Credential("p", "u", "c", "wordpress", "VALID", "1", {}, (), True, "t0", "t0")
    if conflicts < TRANSACTION_ATTEMPTS:
        repository.save(credential, {"accessToken": "x"}, dev_keys_cap=1)
        assert repository.get("p", "u", "c").uses_dev_keys
    else:
        with pytest.raises(UpstreamError):
            repository.save(credential, {"accessToken": "x"}, dev_keys_cap=1)
        assert repository.list_for_user("p", "u") == []
    assert client.calls == min(conflicts + 1, TRANSACTION_ATTEMPTS)
    assert len(slept) == client.calls - 1
    assert drawn == [(0, pytest.approx(0.05 * attempt)) for attempt in range(1, client.calls)]
    assert slept == [high for _, high in drawn]


class _SeatAlwaysChangedClient:
    """A DynamoDB client under which the user's seat changes before every transaction commits:
    the seat operation's condition fails each time."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls = 0

    def transact_write_items(self, **params: Any) -> Any:
        from chalicelib.adapters.keys import DEV_KEY_SEAT

        self.calls += 1
        items = params["TransactItems"]
        reasons = [{"Code": "ConditionalCheckFailed" if DEV_KEY_SEAT in json.dumps(op) else "None"} for op in items]
        error = {"Error": {"Code": "TransactionCanceledException", "Message": "condition"}}
        raise ClientError({**error, "CancellationReasons": reasons}, "TransactWriteItems")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_seat_that_keeps_changing_is_a_409_after_a_few_reads(aws_env: None) -> None:
    from chalicelib.adapters import aws
    from chalicelib.adapters.connections import SEAT_ATTEMPTS, CredentialRepository
    from chalicelib.adapters.dynamo import Table
    from chalicelib.domain.errors import Conflict
    from chalicelib.domain.models import Credential
    from chalicelib.wiring import get_services

    services = get_services()
    client = _SeatAlwaysChangedClient(aws.dynamodb())
    table = Table(services.settings.table_name, lambda: cast(Any, client))
    repository = CredentialRepository(table, services.encryptor, sleep=lambda seconds: None)
    credential = Credential("p", "u", "c", "wordpress", "VALID", "1", {}, (), False, "t0", "t0")
    with pytest.raises(Conflict) as raised:
        repository.save(credential, {"accessToken": "x"})
    assert (raised.value.status, raised.value.code, raised.value.message) == (
        409,
        "concurrent_update",
        "The credential changed repeatedly while being saved; try again.",
    )
    assert client.calls == SEAT_ATTEMPTS
    assert repository.list_for_user("p", "u") == []


class _CancelledWithoutReasonsClient:
    """A DynamoDB client whose transactions are cancelled without per-item reasons."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def transact_write_items(self, **params: Any) -> Any:
        error = {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}}
        raise ClientError(error, "TransactWriteItems")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_cancellation_without_reasons_is_a_storage_error(aws_env: None) -> None:
    from chalicelib.adapters import aws
    from chalicelib.adapters.connections import CredentialRepository
    from chalicelib.adapters.dynamo import Table
    from chalicelib.domain.errors import UpstreamError
    from chalicelib.domain.models import Credential
    from chalicelib.wiring import get_services

    services = get_services()
    table = Table(services.settings.table_name, lambda: cast(Any, _CancelledWithoutReasonsClient(aws.dynamodb())))
    repository = CredentialRepository(table, services.encryptor, sleep=lambda seconds: None)
    credential = Credential("p", "u", "c", "wordpress", "VALID", "1", {}, (), False, "t0", "t0")
    with pytest.raises(UpstreamError) as raised:
        repository.save(credential, {"accessToken": "x"})
    assert raised.value.status >= 500


def test_a_development_keys_credential_is_never_saved_without_the_cap(aws_env: None) -> None:
    from chalicelib.domain.models import Credential
    from chalicelib.wiring import get_services

    credential = Credential("p", "u", "c", "wordpress", "VALID", "1", {}, (), True, "t0", "t0")
    with pytest.raises(ValueError, match=r"^a development-keys credential needs the seat cap$"):
        get_services().credentials.save(credential, {"accessToken": "x"})
    assert get_services().credentials.list_for_user("p", "u") == []


def test_reconnecting_through_the_projects_own_client_gives_the_seat_back(
    project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.services.integrations import SettingsInput, put_integration_settings
    from chalicelib.wiring import get_services, reset_services

    monkeypatch.setenv("TETHER_DEV_KEYS_MAX_USERS", "1")
    reset_services()
    setup = Racer("setup")
    account = sandbox.state.all_users()[0].username
    first = begin(setup, project.id, "alice", sandbox, account)
    assert callback_job(first)(setup).status == 200
    [dev_id] = stored_ids(setup, project.id, "alice")
    assert_seats_consistent(setup, project.id, ["alice"])
    assert setup.ports.dev_keys.users(project.id) == {"alice"}

    services = get_services()
    own = sandbox.state.register_client("Customer app", "http://127.0.0.1:9/oauth/callback")
    config = services.project_configs.get(project.id)
    assert config is not None
    put_integration_settings(
        services.projects,
        services.secrets,
        services.settings.client_secret_id(project.id, "wordpress"),
        config,
        "wordpress",
        SettingsInput(own.client_id, own.client_secret, keep_secret=False, scopes=(), active=True),
    )
    again = begin(setup, project.id, "alice", sandbox, account)
    assert callback_job(again)(setup).status == 200
    [credential] = setup.ports.credentials.list_for_user(project.id, "alice")
    assert (credential.id, credential.uses_dev_keys) == (dev_id, False)  # the same credential, now the project's
    assert setup.ports.dev_keys.users(project.id) == set()
    assert_seats_consistent(setup, project.id, ["alice"])
    # Another user connects through the project's client too; disconnecting touches no seat.
    bob = begin(setup, project.id, "bob", sandbox, account)
    assert callback_job(bob)(setup).status == 200
    [bob_id] = stored_ids(setup, project.id, "bob")
    setup.ports.credentials.delete(project.id, "bob", bob_id)
    assert stored_ids(setup, project.id, "bob") == set()
    assert_seats_consistent(setup, project.id, ["alice", "bob"])
