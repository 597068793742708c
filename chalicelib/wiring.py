"""Builds the app's adapters on first use and keeps them for the life of the container."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import cached_property

from chalicelib.adapters import aws
from chalicelib.adapters.connections import (
    ConnectSessionRepository,
    CredentialRepository,
    DevKeyUsage,
    OAuthStateRepository,
)
from chalicelib.adapters.encryption import Encryptor
from chalicelib.adapters.http_client import reset_http_session
from chalicelib.adapters.metrics import Metrics
from chalicelib.adapters.output_store import OutputStore
from chalicelib.adapters.repositories import ProjectRepository, SealedItems, UserRepository
from chalicelib.adapters.run_repository import RunRepository
from chalicelib.adapters.schedules import Schedules
from chalicelib.adapters.secrets import SecretStore
from chalicelib.adapters.state_machines import StateMachines
from chalicelib.adapters.upstream import Clock
from chalicelib.adapters.webhook_repository import WebhookRepository
from chalicelib.adapters.workflow_repository import WorkflowRepository
from chalicelib.config import Settings, get_settings, reset_settings
from chalicelib.services.data_keys import load_keyring
from chalicelib.services.project_config import ProjectConfigCache
from chalicelib.services.step_runner import RunnerPorts
from chalicelib.services.workflow_runs import RunPorts
from chalicelib.services.workflows import WorkflowPorts


class Services:
    """The ports every use case needs, created lazily from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # The wall clock (Unix seconds) that session and state expiry are judged on; tests
        # replace it instead of patching `time.time`.
        self.clock: Callable[[], float] = time.time

    @cached_property
    def projects(self) -> ProjectRepository:
        """Projects, signing keys and integration settings."""
        return ProjectRepository(aws.dynamodb_table(self.settings.table_name))

    @cached_property
    def users(self) -> UserRepository:
        """End users."""
        return UserRepository(aws.dynamodb_table(self.settings.table_name))

    @cached_property
    def credentials(self) -> CredentialRepository:
        """Credentials with their sealed tokens."""
        return CredentialRepository(aws.dynamodb_table(self.settings.table_name), self.encryptor)

    @cached_property
    def sessions(self) -> ConnectSessionRepository:
        """Connect sessions."""
        return ConnectSessionRepository(aws.dynamodb_table(self.settings.table_name))

    @cached_property
    def oauth_states(self) -> OAuthStateRepository:
        """Pending OAuth states."""
        return OAuthStateRepository(aws.dynamodb_table(self.settings.table_name))

    @cached_property
    def dev_key_usage(self) -> DevKeyUsage:
        """The development-keys user cap."""
        return DevKeyUsage(aws.dynamodb_table(self.settings.table_name))

    @cached_property
    def sealed_items(self) -> SealedItems:
        """Every item holding an encrypted value (key rotation)."""
        return SealedItems(aws.dynamodb_table(self.settings.table_name))

    @cached_property
    def workflows(self) -> WorkflowRepository:
        """Deployed workflows and each end user's choices."""
        return WorkflowRepository(aws.dynamodb_table(self.settings.table_name))

    @cached_property
    def runs(self) -> RunRepository:
        """Task history: runs and step records."""
        return RunRepository(aws.dynamodb_table(self.settings.table_name))

    @cached_property
    def state_machines(self) -> StateMachines:
        """Step Functions."""
        timeout = self.settings.workflow_sync_timeout_seconds
        return StateMachines(
            aws.stepfunctions, self.settings.workflow_role_arn, lambda: aws.stepfunctions_sync(timeout)
        )

    @cached_property
    def outputs(self) -> OutputStore:
        """Large step outputs in S3."""
        return OutputStore(aws.s3, self.settings.outputs_bucket)

    @cached_property
    def workflow_ports(self) -> WorkflowPorts:
        """What the workflow admin use cases need."""
        return WorkflowPorts(self.settings, self.workflows, self.state_machines, self.webhooks, self.schedules)

    @cached_property
    def webhooks(self) -> WebhookRepository:
        """Webhook secrets, sealed."""
        return WebhookRepository(aws.dynamodb_table(self.settings.table_name), self.encryptor)

    @cached_property
    def schedules(self) -> Schedules:
        """EventBridge Scheduler (schedule-triggered workflows)."""
        return Schedules(aws.scheduler, self.settings.schedule_dispatcher_arn, self.settings.scheduler_role_arn)

    @cached_property
    def run_ports(self) -> RunPorts:
        """What starting and reading runs needs."""
        return RunPorts(
            self.settings,
            self.workflows,
            self.runs,
            self.state_machines,
            self.credentials,
            self.users,
            self.outputs,
            self.metrics,
            self.clock,
        )

    @cached_property
    def runner_ports(self) -> RunnerPorts:
        """What the step runner needs."""
        return RunnerPorts(
            self.settings,
            self.workflows,
            self.runs,
            self.credentials,
            self.project_configs,
            self.upstream_clock,
            self.outputs,
            self.metrics,
            self.clock,
        )

    @cached_property
    def metrics(self) -> Metrics:
        """The stage's metrics, as log lines (Embedded Metric Format)."""
        return Metrics(self.settings.stage, lambda: self.clock())

    @cached_property
    def secrets(self) -> SecretStore:
        """Secrets Manager, cached."""
        return SecretStore(aws.secretsmanager, self.settings.secret_cache_seconds)

    @cached_property
    def project_configs(self) -> ProjectConfigCache:
        """Per-container cache of project configurations."""
        return ProjectConfigCache(self.projects.load_config, self.settings.config_cache_seconds)

    @cached_property
    def upstream_clock(self) -> Clock:
        """Time, sleep and jitter for proxied calls (tests replace it to retry without sleeping)."""
        return Clock()

    @cached_property
    def encryptor(self) -> Encryptor:
        """AES-GCM with the deployment keyring (read again, uncached, on meeting an unknown key id)."""
        secret_id = self.settings.data_keys_secret_id
        return Encryptor(
            lambda: load_keyring(self.secrets, secret_id), lambda: load_keyring(self.secrets, secret_id, fresh=True)
        )


_lock = threading.Lock()
_services: Services | None = None


def get_services() -> Services:
    """The container's services (built on first call)."""
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                _services = Services(get_settings())
    return _services


def reset_services() -> None:
    """Forget settings, clients and caches (tests and the local stack reconfigure)."""
    global _services
    with _lock:
        _services = None
    reset_settings()
    aws.reset_clients()
    reset_http_session()
