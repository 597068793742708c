"""Deployment settings, read from the environment once and cached per container."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from chalicelib.domain.errors import Misconfigured

MAX_JWT_LEEWAY_SECONDS = 60
# The account moto (the local stack) answers as; deployed stacks set real ARNs in the environment.
LOCAL_ACCOUNT = "123456789012"
# Set by the Lambda runtime in every function's environment.
LAMBDA_MARKER = "AWS_LAMBDA_FUNCTION_NAME"
_STAGE = re.compile(r"[a-z][a-z0-9-]{0,19}")
# What a template value left for a human to fill in looks like.
_PLACEHOLDER = re.compile(r"REPLACE|YOUR[-_]|[<>{}]|\.\.\.", re.IGNORECASE)


@dataclass(frozen=True)
class StageNames:
    """Every AWS name that follows from a stage: the one place they are spelled out."""

    stage: str

    @property
    def table(self) -> str:
        """The DynamoDB table."""
        return f"tether-{self.stage}"

    @property
    def secret_prefix(self) -> str:
        """The prefix of every Secrets Manager secret of the stage."""
        return f"tether/{self.stage}"

    @property
    def stack(self) -> str:
        """The CloudFormation stack `tether deploy` manages."""
        return f"tether-{self.stage}"

    @property
    def api_function(self) -> str:
        """The API's Lambda function."""
        return f"tether-{self.stage}-api"

    def function(self, chalice_name: str) -> str:
        """A chalice `@app.lambda_function(name=...)` function's Lambda name (`tether-<stage>-<name>`)."""
        return f"tether-{self.stage}-{chalice_name}"

    @property
    def step_runner_function(self) -> str:
        """The workflow step runner's Lambda function."""
        return self.function("step_runner")

    @property
    def schedule_dispatcher_function(self) -> str:
        """The Lambda function EventBridge Scheduler invokes for scheduled workflows."""
        return self.function("schedule_dispatcher")

    @property
    def scheduler_role(self) -> str:
        """The IAM role EventBridge Scheduler invokes the dispatcher as."""
        return f"tether-{self.stage}-scheduler"

    @property
    def state_machine_prefix(self) -> str:
        """What every workflow state machine's name starts with (`state_machine_name`)."""
        return f"tether-{self.stage[:20]}-"

    @property
    def workflow_role(self) -> str:
        """The IAM role workflow state machines run as."""
        return f"tether-{self.stage}-workflows"

    @property
    def outputs_bucket(self) -> str:
        """The S3 bucket of large step outputs (`${...}`: unique per account and region)."""
        return f"tether-{self.stage}-step-outputs-${{AWS::AccountId}}-${{AWS::Region}}"

    @property
    def rest_api(self) -> str:
        """The API Gateway REST API."""
        return f"tether-{self.stage}"

    @property
    def access_log_group(self) -> str:
        """The log group of API Gateway's access log."""
        return f"/aws/apigateway/tether-{self.stage}/access"

    def function_log_group(self, function_name: str) -> str:
        """The log group Lambda writes a function's output to."""
        return f"/aws/lambda/{function_name}"


def stage_names(stage: str) -> StageNames:
    """The names of `stage`; ValueError for a stage that cannot name AWS resources."""
    if not _STAGE.fullmatch(stage):
        raise ValueError(
            f"Bad stage name {stage!r}: use 1-20 lower-case letters, digits and hyphens, starting with a letter."
        )
    return StageNames(stage)


def public_url_problem(url: str | None) -> str | None:
    """Why `url` cannot be a deployment's public base URL, or None when it can."""
    if url is None or not url.strip():
        return "TETHER_PUBLIC_URL is not set"
    if _PLACEHOLDER.search(url):
        return f"TETHER_PUBLIC_URL is a placeholder ({url})"
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        return f"TETHER_PUBLIC_URL must be an https:// base URL without query or fragment, not {url}"
    return None


@dataclass(frozen=True)
class Settings:
    """Everything the app needs to know about the deployment it runs in."""

    stage: str
    table_name: str
    secret_prefix: str
    public_url: str
    wpcom_origin: str
    jwt_leeway_seconds: int
    config_cache_seconds: float
    secret_cache_seconds: float
    max_body_bytes: int
    dev_keys_max_users: int
    provider_timeout_seconds: float
    proxy_deadline_seconds: float
    max_proxy_body_bytes: int
    max_proxy_response_bytes: int
    max_token_lifetime_seconds: int = 24 * 3600
    # Workflows: the step runner Lambda and the role state machines run as (the deploy template
    # sets both), how long run history is kept, how long a request-triggered run may take, and
    # the first retry interval of a transient step failure.
    step_runner_arn: str = ""
    workflow_role_arn: str = ""
    run_history_days: int = 30
    # A superseded version's state machine is deleted at a later deploy, once this long has
    # passed since it stopped being current and none of its executions is running.
    retire_versions_after_seconds: int = 1200
    workflow_sync_timeout_seconds: float = 25.0
    workflow_retry_interval_seconds: int = 2
    # Step outputs larger than this (bytes of JSON) are kept in S3, in this bucket.
    outputs_bucket: str = ""
    large_output_bytes: int = 128 * 1024
    # Schedule triggers: the dispatcher Lambda EventBridge Scheduler invokes and the role it
    # invokes it as (the deploy template sets both).
    schedule_dispatcher_arn: str = ""
    scheduler_role_arn: str = ""
    schedule_page_size: int = 100  # users read per page when a tick fans out
    # Only the local stack may let http steps call loopback addresses.
    allow_loopback_http_steps: bool = False
    # A CA bundle for http steps instead of certifi's (a local test server's own certificate).
    http_steps_ca_bundle: str | None = None

    @property
    def data_keys_secret_id(self) -> str:
        """Name of the Secrets Manager secret holding the data-encryption keyring."""
        return f"{self.secret_prefix}/data-keys"

    @property
    def dev_keys_secret_id(self) -> str:
        """Name of the Secrets Manager secret holding the deployment's development OAuth keys."""
        return f"{self.secret_prefix}/dev-keys"

    @property
    def oauth_redirect_uri(self) -> str:
        """The one fixed OAuth redirect URI of this deployment (register it with the provider)."""
        return f"{self.public_url}/oauth/callback"

    def client_secret_id(self, project_id: str, integration_type: str) -> str:
        """Name of the Secrets Manager secret holding one project's OAuth client secret."""
        return f"{self.secret_prefix}/projects/{project_id}/integrations/{integration_type}/client-secret"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return int(raw)


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return float(raw)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read settings from the environment (first call only; later calls hit the cache).

    Inside Lambda a missing or placeholder `TETHER_PUBLIC_URL` raises `Misconfigured`."""
    stage = os.environ.get("TETHER_STAGE", "dev")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    names = StageNames(stage)
    public_url = os.environ.get("TETHER_PUBLIC_URL")
    if os.environ.get(LAMBDA_MARKER):
        # Deployed, a wrong public URL means a wrong OAuth redirect URI: refuse to serve.
        problem = public_url_problem(public_url)
        if problem is not None:
            raise Misconfigured(f"This deployment is misconfigured: {problem}.")
    leeway = _int("TETHER_JWT_LEEWAY_SECONDS", 30)
    return Settings(
        stage=stage,
        table_name=os.environ.get("TETHER_TABLE", names.table),
        secret_prefix=os.environ.get("TETHER_SECRET_PREFIX", names.secret_prefix),
        public_url=(public_url or "http://127.0.0.1:8000").strip().rstrip("/"),
        wpcom_origin=os.environ.get("TETHER_WPCOM_ORIGIN", "https://public-api.wordpress.com").rstrip("/"),
        jwt_leeway_seconds=max(0, min(leeway, MAX_JWT_LEEWAY_SECONDS)),
        config_cache_seconds=_float("TETHER_CONFIG_CACHE_SECONDS", 30.0),
        secret_cache_seconds=_float("TETHER_SECRET_CACHE_SECONDS", 300.0),
        max_body_bytes=_int("TETHER_MAX_BODY_BYTES", 256 * 1024),
        dev_keys_max_users=_int("TETHER_DEV_KEYS_MAX_USERS", 5),
        provider_timeout_seconds=_float("TETHER_PROVIDER_TIMEOUT_SECONDS", 10.0),
        # API Gateway gives up after 29 s; answer (with a 504 if need be) well before that.
        proxy_deadline_seconds=min(_float("TETHER_PROXY_DEADLINE_SECONDS", 25.0), 28.0),
        # Lambda payloads are capped at 6 MB and binary bodies travel base64-encoded (4/3).
        max_proxy_body_bytes=_int("TETHER_MAX_PROXY_BODY_BYTES", 4_400_000),
        max_proxy_response_bytes=_int("TETHER_MAX_PROXY_RESPONSE_BYTES", 4_400_000),
        # Longest a user token may live (`exp - iat`); a leaked token is useful this long at most.
        max_token_lifetime_seconds=max(60, _int("TETHER_MAX_TOKEN_LIFETIME_SECONDS", 24 * 3600)),
        step_runner_arn=os.environ.get("TETHER_STEP_RUNNER_ARN")
        or f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT}:function:tether-{stage}-step_runner",
        workflow_role_arn=os.environ.get("TETHER_WORKFLOW_ROLE_ARN")
        or f"arn:aws:iam::{LOCAL_ACCOUNT}:role/tether-{stage}-workflows",
        schedule_dispatcher_arn=os.environ.get("TETHER_SCHEDULE_DISPATCHER_ARN")
        or f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT}:function:tether-{stage}-schedule_dispatcher",
        scheduler_role_arn=os.environ.get("TETHER_SCHEDULER_ROLE_ARN")
        or f"arn:aws:iam::{LOCAL_ACCOUNT}:role/tether-{stage}-scheduler",
        schedule_page_size=min(max(1, _int("TETHER_SCHEDULE_PAGE_SIZE", 100)), 1000),
        run_history_days=max(1, _int("TETHER_RUN_HISTORY_DAYS", 30)),
        retire_versions_after_seconds=max(0, _int("TETHER_RETIRE_VERSIONS_AFTER_SECONDS", 1200)),
        # API Gateway gives up after 29 s, like the proxy's deadline.
        workflow_sync_timeout_seconds=min(_float("TETHER_WORKFLOW_SYNC_TIMEOUT_SECONDS", 25.0), 28.0),
        workflow_retry_interval_seconds=max(1, _int("TETHER_WORKFLOW_RETRY_INTERVAL_SECONDS", 2)),
        outputs_bucket=os.environ.get("TETHER_OUTPUTS_BUCKET") or f"tether-{stage}-step-outputs",
        large_output_bytes=max(1024, min(_int("TETHER_LARGE_OUTPUT_BYTES", 128 * 1024), 200 * 1024)),
        allow_loopback_http_steps=os.environ.get("TETHER_HTTP_STEPS_ALLOW_LOOPBACK") == "1",
        http_steps_ca_bundle=os.environ.get("TETHER_HTTP_STEPS_CA_BUNDLE") or None,
    )


def reset_settings() -> None:
    """Forget cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
