"""DynamoDB key strings. The only module that builds them.

Layout (one table, `PK`/`SK`, general index `GSI1PK`/`GSI1SK`, TTL attribute `expiresAt`):

| item                 | PK                        | SK                 | GSI1PK                   | GSI1SK            |
|----------------------|---------------------------|--------------------|--------------------------|-------------------|
| project              | PROJECT#<pid>             | META               | PROJECTS                 | <createdAt>#<pid> |
| signing key          | PROJECT#<pid>             | SIGNINGKEY#<kid>   |                          |                   |
| integration settings | PROJECT#<pid>             | INTEGRATION#<type> |                          |                   |
| dev-key users        | PROJECT#<pid>             | DEVKEYUSERS        |                          |                   |
| allowed origins      | PROJECT#<pid>             | ALLOWEDORIGINS     |                          |                   |
| end user             | PROJECT#<pid>#USER#<uid>  | PROFILE            | PROJECT#<pid>#USERS      | <createdAt>#<uid> |
| credential           | PROJECT#<pid>#USER#<uid>  | CREDENTIAL#<cid>   |                          |                   |
| current credential   | PROJECT#<pid>#USER#<uid>  | CURRENT#<type>     |                          |                   |
| dev-keys seat        | PROJECT#<pid>#USER#<uid>  | DEVKEYSEAT         |                          |                   |
| connect session      | PROJECT#<pid>#USER#<uid>  | SESSION#<sid>      |                          |                   |
| OAuth state          | PROJECT#<pid>#OAUTH#<h>   | STATE              |                          |                   |
| workflow             | PROJECT#<pid>#WORKFLOWS   | WORKFLOW#<wid>     |                          |                   |
| workflow version     | PROJECT#<pid>#WORKFLOWS   | VERSION#<wid>#<v>  |                          |                   |
| user's workflow      | PROJECT#<pid>#USER#<uid>  | USERWORKFLOW#<wid> |                          |                   |
| user's settings      | PROJECT#<pid>#USER#<uid>  | SETTINGS#<type>    |                          |                   |
| trigger claim        | PROJECT#<pid>#USER#<uid>  | TRIGGER#<wid>#<h>  |                          |                   |
| run                  | PROJECT#<pid>#RUN#<rid>   | RUN                | PROJECT#<pid>#RUNS       | <startedAt>#<rid> |
| step record          | PROJECT#<pid>#RUN#<rid>   | STEP#<sid>[#<i>]   |                          |                   |
| webhook secret       | WEBHOOK#<hook id>         | SECRET#<n>         |                          |                   |

`<h>` is the SHA-256 of the `state` value: the table never holds a usable state.
Workflow versions are zero-padded (`<v>` = 8 digits) so they sort numerically. A trigger claim
(an `Idempotency-Key`, or the one `integration_enabled` run) names the run it started; `<h>` is
the SHA-256 of what is claimed. Runs and their step records carry `expiresAt` (the history TTL). A webhook's
partition is addressed by its unguessable hook id alone (the intake URL carries nothing else);
each secret item names its project and workflow, and a replaced secret expires after its grace.
The current-credential marker names the credential of the user's last connect that replaces
earlier ones; the seat lists the user's credentials that use the development keys (see
`connections.py` for how both keep concurrent connects consistent).
Sessions and OAuth states carry `expiresAt` (TTL); readers also check it, as TTL deletion lags.

Everything a request needs to authorise against a project sits in the `PROJECT#<pid>`
partition (one Query); everything about one end user sits in their own partition.
User ids are the customer's `sub` strings: they are embedded verbatim, which is safe because
the delimiter-bearing prefix always precedes them and no key is parsed back into parts.
"""

from __future__ import annotations

from dataclasses import dataclass

PK = "PK"
SK = "SK"
GSI1 = "GSI1"
GSI1PK = "GSI1PK"
GSI1SK = "GSI1SK"
TTL_ATTRIBUTE = "expiresAt"

PROJECT_META = "META"
SIGNING_KEY_PREFIX = "SIGNINGKEY#"
INTEGRATION_PREFIX = "INTEGRATION#"
USER_PROFILE = "PROFILE"
CREDENTIAL_PREFIX = "CREDENTIAL#"
SESSION_PREFIX = "SESSION#"
CURRENT_CREDENTIAL_PREFIX = "CURRENT#"
DEV_KEY_USERS = "DEVKEYUSERS"
ALLOWED_ORIGINS = "ALLOWEDORIGINS"
DEV_KEY_SEAT = "DEVKEYSEAT"
OAUTH_STATE = "STATE"
ALL_PROJECTS = "PROJECTS"
WORKFLOW_PREFIX = "WORKFLOW#"
WORKFLOW_VERSION_PREFIX = "VERSION#"
USER_WORKFLOW_PREFIX = "USERWORKFLOW#"
USER_SETTINGS_PREFIX = "SETTINGS#"
TRIGGER_CLAIM_PREFIX = "TRIGGER#"
RUN = "RUN"
STEP_PREFIX = "STEP#"
WEBHOOK_SECRET_PREFIX = "SECRET#"  # noqa: S105 - a key prefix, not a secret
VERSION_DIGITS = 8


@dataclass(frozen=True)
class Key:
    """A primary key."""

    pk: str
    sk: str

    def as_item(self) -> dict[str, str]:
        """The key as DynamoDB attributes."""
        return {PK: self.pk, SK: self.sk}


def project_partition(project_id: str) -> str:
    """Partition holding a project's metadata, signing keys and integration settings."""
    return f"PROJECT#{project_id}"


def project(project_id: str) -> Key:
    """Key of a project's metadata item."""
    return Key(project_partition(project_id), PROJECT_META)


def signing_key(project_id: str, kid: str) -> Key:
    """Key of one registered signing key."""
    return Key(project_partition(project_id), SIGNING_KEY_PREFIX + kid)


def integration(project_id: str, integration_type: str) -> Key:
    """Key of a project's settings for one integration type."""
    return Key(project_partition(project_id), INTEGRATION_PREFIX + integration_type)


def user_partition(project_id: str, user_id: str) -> str:
    """Partition holding one end user's profile and credentials."""
    return f"PROJECT#{project_id}#USER#{user_id}"


def user(project_id: str, user_id: str) -> Key:
    """Key of an end user's profile item."""
    return Key(user_partition(project_id, user_id), USER_PROFILE)


def users_index_partition(project_id: str) -> str:
    """GSI1 partition listing a project's end users, sorted by first sight."""
    return f"PROJECT#{project_id}#USERS"


def users_index_sort(created_at: str, user_id: str) -> str:
    """GSI1 sort key of an end user (chronological, then by id)."""
    return f"{created_at}#{user_id}"


def credential(project_id: str, user_id: str, credential_id: str) -> Key:
    """Key of one stored credential of an end user."""
    return Key(user_partition(project_id, user_id), CREDENTIAL_PREFIX + credential_id)


def current_credential(project_id: str, user_id: str, integration_type: str) -> Key:
    """Key of the marker naming the credential that the user's latest replacing connect wrote."""
    return Key(user_partition(project_id, user_id), CURRENT_CREDENTIAL_PREFIX + integration_type)


def dev_key_seat(project_id: str, user_id: str) -> Key:
    """Key of the set of an end user's credentials that hold their development-keys seat."""
    return Key(user_partition(project_id, user_id), DEV_KEY_SEAT)


def connect_session(project_id: str, user_id: str, session_id: str) -> Key:
    """Key of one connect session (only its own end user can address it)."""
    return Key(user_partition(project_id, user_id), SESSION_PREFIX + session_id)


def oauth_state(project_id: str, state_hash: str) -> Key:
    """Key of a pending OAuth state, by the SHA-256 of the state value."""
    return Key(f"PROJECT#{project_id}#OAUTH#{state_hash}", OAUTH_STATE)


def dev_key_users(project_id: str) -> Key:
    """Key of the set of end users connected through the deployment's development keys."""
    return Key(project_partition(project_id), DEV_KEY_USERS)


def allowed_origins(project_id: str) -> Key:
    """Key of the list of web origins allowed to use a project's SDK routes."""
    return Key(project_partition(project_id), ALLOWED_ORIGINS)


def projects_index_sort(created_at: str, project_id: str) -> str:
    """GSI1 sort key of a project in the list of all projects."""
    return f"{created_at}#{project_id}"


def workflows_partition(project_id: str) -> str:
    """Partition holding a project's workflows and every deployed version of them."""
    return f"PROJECT#{project_id}#WORKFLOWS"


def workflow(project_id: str, workflow_id: str) -> Key:
    """Key of a workflow (its current version and definition)."""
    return Key(workflows_partition(project_id), WORKFLOW_PREFIX + workflow_id)


def workflow_version(project_id: str, workflow_id: str, version: int) -> Key:
    """Key of one deployed version of a workflow (immutable)."""
    return Key(workflows_partition(project_id), workflow_versions_prefix(workflow_id) + f"{version:0{VERSION_DIGITS}d}")


def workflow_versions_prefix(workflow_id: str) -> str:
    """Sort-key prefix shared by every version of one workflow."""
    return f"{WORKFLOW_VERSION_PREFIX}{workflow_id}#"


def user_settings(project_id: str, user_id: str, integration_type: str) -> Key:
    """Key of an end user's portal settings values (`sharedSettings`) for one integration."""
    return Key(user_partition(project_id, user_id), USER_SETTINGS_PREFIX + integration_type)


def user_workflow(project_id: str, user_id: str, workflow_id: str) -> Key:
    """Key of an end user's state for one workflow (enabled, settings)."""
    return Key(user_partition(project_id, user_id), USER_WORKFLOW_PREFIX + workflow_id)


def trigger_claim(project_id: str, user_id: str, workflow_id: str, claim_hash: str) -> Key:
    """Key of a claim that a trigger (an idempotency key, a first connect) started a run."""
    return Key(user_partition(project_id, user_id), f"{TRIGGER_CLAIM_PREFIX}{workflow_id}#{claim_hash}")


def run_partition(project_id: str, run_id: str) -> str:
    """Partition holding one run and its step records."""
    return f"PROJECT#{project_id}#RUN#{run_id}"


def run(project_id: str, run_id: str) -> Key:
    """Key of a run record."""
    return Key(run_partition(project_id, run_id), RUN)


def step_record(project_id: str, run_id: str, step_id: str, position: tuple[int, ...] = ()) -> Key:
    """Key of one step's record in a run; `position` holds the iteration index of each fan_out
    around the step, outermost first (empty outside any fan_out)."""
    suffix = "".join(f"#{index:08d}" for index in position)
    return Key(run_partition(project_id, run_id), f"{STEP_PREFIX}{step_id}{suffix}")


def runs_index_partition(project_id: str) -> str:
    """GSI1 partition listing a project's runs, newest first when read backwards."""
    return f"PROJECT#{project_id}#RUNS"


def runs_index_sort(started_at: str, run_id: str) -> str:
    """GSI1 sort key of a run (chronological, then by id)."""
    return f"{started_at}#{run_id}"


def webhook_partition(hook_id: str) -> str:
    """Partition holding a webhook's secrets (the current one and those in their grace period)."""
    return f"WEBHOOK#{hook_id}"


def webhook_secret(hook_id: str, number: int) -> Key:
    """Key of one of a webhook's secrets (numbered from 1; the highest is the newest)."""
    return Key(webhook_partition(hook_id), f"{WEBHOOK_SECRET_PREFIX}{number:0{VERSION_DIGITS}d}")
