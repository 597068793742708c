"""Concurrency stress test of `tether dev`: many clients at once, every answer a success.

The local server handles each connection on a thread of its own while the app's adapters are
shared, so anything in the AWS access path that is not thread-safe shows up here as sporadic
4xx/5xx answers (a shared boto3 resource once turned racing condition expressions into
`400 invalid_identifier`). Each client mixes authenticated SDK reads, first-sight user writes and
admin reads; half keep their connection alive (one server thread each), half open a new
connection per request (a new server thread each time).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.devstack import RunningDevStack
from tether.tokens import sign_user_token

CLIENTS = 8
REQUESTS_PER_CLIENT = 200
HTTP_TIMEOUT = 30


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevStack]:
    with RunningDevStack(tmp_path_factory.mktemp("devstack-stress")) as running:
        yield running


def _client(stack: RunningDevStack, index: int) -> Counter[str]:
    """One client's run: a tally of `status route` for every answer that was not a success."""
    private_pem = stack.state["signingPrivateKeyPem"]
    admin = {"Authorization": f"Bearer {stack.state['projectSecretKey']}"}
    base = f"{stack.api_url}/projects/{stack.project_id}"
    shared_user = {"Authorization": f"Bearer {sign_user_token(private_pem, 'stress-shared')}"}
    keep_alive = index % 2 == 0
    http = requests.Session() if keep_alive else None
    failures: Counter[str] = Counter()
    try:
        for n in range(REQUESTS_PER_CLIENT):
            kind = n % 5
            if kind == 0:
                # A user seen for the first time: a conditional put of the user record.
                token = sign_user_token(private_pem, f"stress-{index}-{n}")
                route, headers = "/sdk/me", {"Authorization": f"Bearer {token}"}
            elif kind == 1:
                route, headers = "/sdk/me", shared_user
            elif kind == 2:
                route, headers = "/sdk/integrations", shared_user
            elif kind == 3:
                route, headers = "/users", admin
            else:
                route, headers = "/integrations/wordpress", admin
            getter = http.get if http is not None else requests.get
            response = getter(base + route, headers=headers, timeout=HTTP_TIMEOUT)
            if response.status_code != 200:
                failures[f"{response.status_code} {route} {response.text[:120]}"] += 1
    finally:
        if http is not None:
            http.close()
    return failures


def test_parallel_clients_get_no_errors(stack: RunningDevStack) -> None:
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        results = list(pool.map(lambda index: _client(stack, index), range(CLIENTS)))
    failures = sum(results, Counter[str]())
    assert not failures, (
        f"{sum(failures.values())} of {CLIENTS * REQUESTS_PER_CLIENT} requests failed: {failures}\n"
        f"--- tether dev logs ---\n{stack.logs()[-20000:]}"
    )
    # The first-sight writes landed: each client's first new user is a recorded end user.
    admin = {"Authorization": f"Bearer {stack.state['projectSecretKey']}"}
    for index in range(CLIENTS):
        user = requests.get(
            f"{stack.api_url}/projects/{stack.project_id}/users/stress-{index}-0", headers=admin, timeout=HTTP_TIMEOUT
        )
        assert user.status_code == 200, user.text
