"""Tether's CloudFormation template, built from `chalice package`'s output.

Chalice writes a SAM template; deploying that as is fails (the 16 per-depth proxy routes make it
far larger than CloudFormation accepts inline), needs a second deploy to learn the API's URL, and
SAM's `Api` adds a stray `Stage` stage. `build_template` turns it into a plain template (no
transform) that deploys as written:

- one greedy `{path+}` resource for the proxy (the app maps it to its per-depth routes), and API
  Gateway's own errors in Tether's `{message, code}` format inside the API definition;
- the function's URL known before the function exists: the API's integration names the function
  by its stage-derived name, so the function may read the API's id (`TETHER_PUBLIC_URL`);
- one explicit stage with access logs, throttling and optional X-Ray; a log group per function
  with retention; alarms, with an optional SNS topic;
- the table with deletion protection, point-in-time recovery and TTL;
- least-privilege roles whose ARNs come from `${AWS::Partition}`, `${AWS::Region}` and
  `${AWS::AccountId}`;
- optionally a custom domain (regional endpoint, ACM certificate, base path mapping).

Further resources plug in at `FUNCTION_POLICIES` (one IAM policy per chalice function) and
`extra_resources` (anything else the stack needs: today the workflows' state machine role).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters import keys
from chalicelib.adapters.metrics import FAILED_RUNS as FAILED_RUNS_METRIC
from chalicelib.adapters.metrics import NAMESPACE as METRICS_NAMESPACE
from chalicelib.api.proxy import GREEDY_PATH, depth_path
from chalicelib.config import StageNames
from tether.provision import table_definition

API_STAGE = "api"
# CloudFormation's limit on a template passed in the request (larger ones go through S3).
INLINE_TEMPLATE_LIMIT = 51_200
# ... and on one read from S3.
S3_TEMPLATE_LIMIT = 1_000_000

# API Gateway answers some requests itself, before Lambda: unknown routes (its "Missing
# Authentication Token" 403, which echoes the Authorization header), throttling, oversized
# payloads. These make them JSON {message, code} like every other Tether error.
GATEWAY_RESPONSES = {
    "MISSING_AUTHENTICATION_TOKEN": (404, "No route matches this method and path.", "route_not_found"),
    "RESOURCE_NOT_FOUND": (404, "No route matches this method and path.", "route_not_found"),
    "THROTTLED": (429, "Too many requests; slow down.", "throttled"),
    "REQUEST_TOO_LARGE": (413, "The request is too large.", "payload_too_large"),
    "INTEGRATION_TIMEOUT": (504, "The request took too long.", "timeout"),
    "DEFAULT_4XX": (None, "The request was refused.", "bad_request"),
    "DEFAULT_5XX": (None, "Internal server error.", "internal_error"),
}

# The table actions each function's code calls (TransactWriteItems needs the item-level actions);
# tests/test_iam_policy.py compares every role with the calls its function's code can reach.
API_TABLE_ACTIONS = ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "ConditionCheckItem"]
WORKER_TABLE_ACTIONS = ["GetItem", "PutItem", "UpdateItem", "Query"]

# The access log: who, what route, how it ended. Never the query string (user tokens travel
# there) nor any header.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "time": "$context.requestTimeEpoch",
        "ip": "$context.identity.sourceIp",
        "method": "$context.httpMethod",
        "route": "$context.resourcePath",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integrationLatency",
        "bytes": "$context.responseLength",
        "error": "$context.error.responseType",
    },
    separators=(",", ":"),
)


@dataclass(frozen=True)
class TemplateOptions:
    """What an operator chooses for a deployment (`tether deploy` flags)."""

    domain: str | None = None
    certificate_arn: str | None = None
    log_retention_days: int = 30
    throttle_rate: float = 50.0
    throttle_burst: int = 100
    tracing: bool = False
    alarm_email: str | None = None


def arn(service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
    """An ARN in the stack's own partition, region and account (for `Fn::Sub`)."""
    return ":".join(
        [
            "arn:${AWS::Partition}",
            service,
            "${AWS::Region}" if region else "",
            "${AWS::AccountId}" if account else "",
            resource,
        ]
    )


def _function_statements(names: StageNames, function_name: str, table_actions: list[str]) -> list[dict[str, Any]]:
    """What every Tether function may do: write its own logs, use the stage's table (the actions
    given), read the stage's secrets; never change the operator's secrets nor delete one without
    a recovery window."""

    def secret_arn(name: str) -> str:
        return arn("secretsmanager", f"secret:{names.secret_prefix}/{name}")

    return [
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": arn("logs", f"log-group:{names.function_log_group(function_name)}:*"),
        },
        {
            "Sid": "Table",
            "Effect": "Allow",
            "Action": [f"dynamodb:{action}" for action in table_actions],
            "Resource": [
                arn("dynamodb", f"table/{names.table}"),
                arn("dynamodb", f"table/{names.table}/index/*"),
            ],
        },
        {
            "Sid": "ReadSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [secret_arn("data-keys-??????"), secret_arn("dev-keys-??????"), secret_arn("projects/*")],
        },
        {
            "Sid": "OperatorSecretsAreReadOnly",
            "Effect": "Deny",
            "NotAction": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": [secret_arn("data-keys*"), secret_arn("dev-keys*")],
        },
        {
            "Sid": "DeleteOnlyWithRecoveryWindow",
            "Effect": "Deny",
            "Action": ["secretsmanager:DeleteSecret"],
            "Resource": "*",
            "Condition": {"Bool": {"secretsmanager:ForceDeleteWithoutRecovery": "true"}},
        },
    ]


def _policy(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


def _step_outputs(names: StageNames, actions: list[str]) -> dict[str, Any]:
    """Large step outputs (`runs/...` in the outputs bucket)."""
    return {
        "Sid": "LargeStepOutputs",
        "Effect": "Allow",
        "Action": [f"s3:{action}" for action in actions],
        "Resource": f"arn:${{AWS::Partition}}:s3:::{names.outputs_bucket}/runs/*",
    }


def _state_machines(names: StageNames, actions: list[str]) -> dict[str, Any]:
    return {
        "Sid": "WorkflowStateMachines",
        "Effect": "Allow",
        "Action": [f"states:{action}" for action in actions],
        "Resource": arn("states", f"stateMachine:{names.state_machine_prefix}*"),
    }


def _schedules(names: StageNames, actions: list[str]) -> list[dict[str, Any]]:
    """Manage the stage's schedules (which run as the scheduler role)."""
    return [
        {
            "Sid": "WorkflowSchedules",
            "Effect": "Allow",
            "Action": [f"scheduler:{action}" for action in actions],
            "Resource": arn("scheduler", f"schedule/default/{names.state_machine_prefix}*"),
        },
        {
            "Sid": "PassSchedulerRole",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": arn("iam", f"role/{names.scheduler_role}", region=False),
            "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
        },
    ]


def runtime_policy(names: StageNames, function_name: str | None = None) -> dict[str, Any]:
    """The API function's IAM policy; ARNs hold `${AWS::...}` pseudo parameters (`Fn::Sub` them).

    Beyond what every function may do (`_function_statements`), the API writes project client
    secrets (create a new one, schedule an old one for deletion); creates, deletes, starts and
    describes the stage's workflow state machines, which run as the workflow role, and lists an
    old one's running executions; manages their schedules; and reads large step outputs back for
    the runs API.
    """
    machines = names.state_machine_prefix
    statements = _function_statements(names, function_name or names.api_function, API_TABLE_ACTIONS)
    statements[3:3] = [
        {
            "Sid": "WriteProjectSecrets",
            "Effect": "Allow",
            "Action": ["secretsmanager:CreateSecret", "secretsmanager:DeleteSecret"],
            "Resource": arn("secretsmanager", f"secret:{names.secret_prefix}/projects/*"),
        },
        _step_outputs(names, ["GetObject"]),
        _state_machines(
            names,
            [
                "CreateStateMachine",
                "DeleteStateMachine",
                "TagResource",
                "StartExecution",
                "StartSyncExecution",
                "ListExecutions",
            ],
        ),
        {
            "Sid": "WorkflowExecutions",
            "Effect": "Allow",
            "Action": ["states:DescribeExecution"],
            "Resource": [arn("states", f"execution:{machines}*:*"), arn("states", f"express:{machines}*:*:*")],
        },
        {
            "Sid": "PassWorkflowRole",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": arn("iam", f"role/{names.workflow_role}", region=False),
            "Condition": {"StringEquals": {"iam:PassedToService": "states.amazonaws.com"}},
        },
        *_schedules(names, ["CreateSchedule", "UpdateSchedule", "DeleteSchedule"]),
    ]
    return _policy(statements)


def dispatcher_policy(names: StageNames, function_name: str | None = None) -> dict[str, Any]:
    """The schedule dispatcher's IAM policy: what every function may do, plus starting the
    stage's workflows, arming a one-off catch-up schedule and handing the rest of a long tick to
    itself (it writes no secrets and creates no state machines)."""
    name = function_name or names.schedule_dispatcher_function
    statements = _function_statements(names, name, WORKER_TABLE_ACTIONS)
    statements[3:3] = [
        _state_machines(names, ["StartExecution"]),
        *_schedules(names, ["CreateSchedule", "UpdateSchedule"]),
        {
            "Sid": "ScheduleDispatcherHandsOn",
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": arn("lambda", f"function:{names.schedule_dispatcher_function}"),
        },
    ]
    return _policy(statements)


def step_runner_policy(names: StageNames, function_name: str | None = None) -> dict[str, Any]:
    """The workflow step runner's IAM policy: what every function may do, plus keeping and reading
    large step outputs (it reads credentials and records runs; it neither writes secrets nor
    touches state machines)."""
    statements = _function_statements(names, function_name or names.step_runner_function, WORKER_TABLE_ACTIONS)
    statements[3:3] = [_step_outputs(names, ["PutObject", "GetObject"])]
    return _policy(statements)


# EXTENSION POINT: the IAM policy of each chalice function, by the logical id `chalice package`
# gives it (`APIHandler`; `@app.lambda_function(name="step_runner")` becomes `StepRunner`). A
# function without an entry here makes `build_template` fail, on purpose.
FUNCTION_POLICIES: dict[str, Callable[[StageNames, str], dict[str, Any]]] = {
    "APIHandler": runtime_policy,
    "StepRunner": step_runner_policy,
    "ScheduleDispatcher": dispatcher_policy,
}


def function_environment(names: StageNames) -> dict[str, Any]:
    """What every function learns about the stack (ARNs by name: no dependency cycles)."""
    return {
        "TETHER_STEP_RUNNER_ARN": {"Fn::Sub": arn("lambda", f"function:{names.step_runner_function}")},
        "TETHER_WORKFLOW_ROLE_ARN": {"Fn::Sub": arn("iam", f"role/{names.workflow_role}", region=False)},
        "TETHER_OUTPUTS_BUCKET": {"Ref": "StepOutputs"},
        "TETHER_SCHEDULE_DISPATCHER_ARN": {"Fn::Sub": arn("lambda", f"function:{names.schedule_dispatcher_function}")},
        "TETHER_SCHEDULER_ROLE_ARN": {"Fn::Sub": arn("iam", f"role/{names.scheduler_role}", region=False)},
    }


def extra_resources(names: StageNames, options: TemplateOptions) -> dict[str, Any]:
    """EXTENSION POINT: resources beside the functions and the API: the private bucket of large
    step outputs (kept with the data by `tether destroy`), the role EventBridge Scheduler invokes
    the schedule dispatcher as, and the role workflow state machines run as (each may invoke its
    one function, nothing else)."""
    return {
        "StepOutputs": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": {"Fn::Sub": names.outputs_bucket},
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                # Outputs live as long as the run records that point at them (TETHER_RUN_HISTORY_DAYS).
                "LifecycleConfiguration": {
                    "Rules": [{"Id": "expire-with-run-history", "Status": "Enabled", "ExpirationInDays": 30}]
                },
            },
        },
        "SchedulerRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": names.scheduler_role,
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "scheduler.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "invoke-schedule-dispatcher",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "lambda:InvokeFunction",
                                    "Resource": {
                                        "Fn::Sub": arn("lambda", f"function:{names.schedule_dispatcher_function}")
                                    },
                                }
                            ],
                        },
                    }
                ],
            },
        },
        "WorkflowRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": names.workflow_role,
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "states.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "invoke-step-runner",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "lambda:InvokeFunction",
                                    "Resource": {"Fn::Sub": arn("lambda", f"function:{names.step_runner_function}")},
                                }
                            ],
                        },
                    }
                ],
            },
        },
    }


def function_name(names: StageNames, logical_id: str) -> str:
    """The stage-derived name of a chalice function: `APIHandler` -> `tether-prod-api`,
    `StepRunner` (`@app.lambda_function(name="step_runner")`) -> `tether-prod-step_runner`."""
    if logical_id == "APIHandler":
        return names.api_function
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in logical_id).strip("_")
    return names.function(snake)


def _sub(value: Any) -> Any:
    """Wrap every string holding `${...}` in `Fn::Sub` (policies are built as plain strings)."""
    if isinstance(value, str):
        return {"Fn::Sub": value} if "${" in value else value
    if isinstance(value, list):
        return [_sub(item) for item in value]
    if isinstance(value, dict):
        return {key: _sub(item) for key, item in value.items()}
    return value


def public_url(names: StageNames, options: TemplateOptions) -> Any:
    """The API's public base URL as a template value (custom domain, else execute-api)."""
    if options.domain:
        return f"https://{options.domain}"
    return {"Fn::Sub": f"https://${{RestApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{API_STAGE}"}


def _api_definition(sam_definition: dict[str, Any], names: StageNames) -> dict[str, Any]:
    """Chalice's Swagger as the OpenAPI 3 document API Gateway imports: one greedy proxy resource,
    only what API Gateway reads, the integration naming the function by name, and API Gateway's
    own error responses in Tether's format (inside the definition, so they cannot drift)."""
    uri = {
        "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
        + arn("lambda", f"function:{names.api_function}")
        + "/invocations"
    }
    integration = {
        "type": "aws_proxy",
        "httpMethod": "POST",
        "uri": uri,
        "passthroughBehavior": "when_no_match",
        "contentHandling": "CONVERT_TO_TEXT",
    }
    proxy_prefix = depth_path(1).rsplit("/", 1)[0] + "/"
    paths: dict[str, Any] = {}
    for path, operations in sam_definition["paths"].items():
        if path.startswith(proxy_prefix):
            if path != depth_path(1):
                continue
            path = GREEDY_PATH
        parameters = [
            {"name": part[1:-1].rstrip("+"), "in": "path", "required": True, "schema": {"type": "string"}}
            for part in path.split("/")
            if part.startswith("{")
        ]
        paths[path] = {
            method: {
                "parameters": parameters,
                "responses": {"200": {"description": "OK"}},
                "x-amazon-apigateway-integration": integration,
            }
            for method in operations
        }
    gateway_responses = {}
    for response_type, (status, message, code) in GATEWAY_RESPONSES.items():
        response: dict[str, Any] = {
            "responseParameters": {
                "gatewayresponse.header.Access-Control-Allow-Origin": "'*'",
                "gatewayresponse.header.X-Tether-Error": f"'{code}'",
            },
            "responseTemplates": {"application/json": json.dumps({"message": message, "code": code})},
        }
        if status is not None:
            response["statusCode"] = str(status)
        if response_type == "THROTTLED":
            # The stage's limits are per second.
            response["responseParameters"]["gatewayresponse.header.Retry-After"] = "'1'"
            response["responseParameters"]["gatewayresponse.header.Access-Control-Expose-Headers"] = (
                "'X-Tether-Error,Retry-After'"
            )
        gateway_responses[response_type] = response
    return {
        "openapi": "3.0.1",
        "info": {"version": "1.0", "title": names.rest_api, "description": f"Tether, stage {names.stage}"},
        "paths": paths,
        "x-amazon-apigateway-binary-media-types": sam_definition.get("x-amazon-apigateway-binary-media-types", []),
        "x-amazon-apigateway-gateway-responses": gateway_responses,
    }


def _table(names: StageNames) -> dict[str, Any]:
    definition = table_definition(names.table)
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            **{key: definition[key] for key in ("TableName", "BillingMode", "AttributeDefinitions", "KeySchema")},
            "GlobalSecondaryIndexes": definition["GlobalSecondaryIndexes"],
            "TimeToLiveSpecification": {"AttributeName": keys.TTL_ATTRIBUTE, "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "DeletionProtectionEnabled": True,
        },
    }


def _alarm(description: str, namespace: str, metric: str, dimensions: dict[str, Any], actions: list[Any]) -> Any:
    properties: dict[str, Any] = {
        "AlarmDescription": description,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions.items()],
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }
    if actions:
        properties["AlarmActions"] = actions
        properties["OKActions"] = actions
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}


def _functions(sam: dict[str, Any], names: StageNames, options: TemplateOptions, actions: list[Any]) -> dict[str, Any]:
    """Each chalice function with its own role, log group and alarms."""
    resources: dict[str, Any] = {}
    for logical_id, resource in sam["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        if logical_id not in FUNCTION_POLICIES:
            raise ValueError(f"No IAM policy for the function {logical_id}: add one to FUNCTION_POLICIES.")
        name = function_name(names, logical_id)
        source = resource["Properties"]
        variables = {
            **source.get("Environment", {}).get("Variables", {}),
            "TETHER_STAGE": names.stage,
            "TETHER_TABLE": names.table,
            "TETHER_SECRET_PREFIX": names.secret_prefix,
            "TETHER_PUBLIC_URL": public_url(names, options),
            **function_environment(names),
        }
        policy = FUNCTION_POLICIES[logical_id](names, name)
        if options.tracing:
            policy["Statement"].append(
                {
                    "Sid": "Tracing",
                    "Effect": "Allow",
                    "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                    "Resource": "*",
                }
            )
        resources[f"{logical_id}Role"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [{"PolicyName": "tether", "PolicyDocument": _sub(policy)}],
            },
        }
        resources[f"{logical_id}LogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "LogGroupName": names.function_log_group(name),
                "RetentionInDays": options.log_retention_days,
            },
        }
        function: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": source["Runtime"],
            "Handler": source["Handler"],
            "Code": {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}},
            "Role": {"Fn::GetAtt": [f"{logical_id}Role", "Arn"]},
            "Timeout": source.get("Timeout", 30),
            "MemorySize": source.get("MemorySize", 512),
            "Architectures": source.get("Architectures", ["x86_64"]),
            "Environment": {"Variables": variables},
        }
        if options.tracing:
            function["TracingConfig"] = {"Mode": "Active"}
        resources[logical_id] = {
            "Type": "AWS::Lambda::Function",
            # The function must not create its log group (without retention) before the stack does.
            "DependsOn": [f"{logical_id}LogGroup"],
            "Properties": function,
        }
        resources[f"{logical_id}ErrorsAlarm"] = _alarm(
            f"{name}: invocations failed", "AWS/Lambda", "Errors", {"FunctionName": {"Ref": logical_id}}, actions
        )
        resources[f"{logical_id}ThrottlesAlarm"] = _alarm(
            f"{name}: invocations throttled", "AWS/Lambda", "Throttles", {"FunctionName": {"Ref": logical_id}}, actions
        )
    return resources


def _failed_runs(names: StageNames, actions: list[Any]) -> dict[str, Any]:
    """An alarm on failed workflow runs. The state machines are created at run time, one per
    workflow version, so no alarm can name them, and `AWS/States` has no stage-wide metric.
    Each failed run is counted once, as an Embedded Metric Format log line (`Tether` /
    `WorkflowRunsFailed` / `Stage`): Standard executions that end FAILED, TIMED_OUT or ABORTED
    reach the step runner through an EventBridge rule on the stage's state machine names;
    Express (request-triggered) runs, which EventBridge does not report, are counted by the API
    function that ran them synchronously."""
    prefix = arn("states", f"stateMachine:{names.state_machine_prefix}")
    return {
        "FailedExecutionsRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": f"{names.state_machine_prefix}executions-failed",
                "Description": f"Standard executions of stage {names.stage} that failed, timed out or were aborted",
                "EventPattern": {
                    "source": ["aws.states"],
                    "detail-type": ["Step Functions Execution Status Change"],
                    "detail": {
                        "status": ["FAILED", "TIMED_OUT", "ABORTED"],
                        "stateMachineArn": [{"prefix": {"Fn::Sub": prefix}}],
                    },
                },
                "State": "ENABLED",
                "Targets": [{"Id": "step-runner", "Arn": {"Fn::GetAtt": ["StepRunner", "Arn"]}}],
            },
        },
        "FailedExecutionsPermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Ref": "StepRunner"},
                "Action": "lambda:InvokeFunction",
                "Principal": "events.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": ["FailedExecutionsRule", "Arn"]},
            },
        },
        "WorkflowRunsFailedAlarm": _alarm(
            f"{names.state_machine_prefix}*: workflow runs failed",
            METRICS_NAMESPACE,
            FAILED_RUNS_METRIC,
            {"Stage": names.stage},
            actions,
        ),
    }


def _api(sam: dict[str, Any], names: StageNames, options: TemplateOptions, actions: list[Any]) -> dict[str, Any]:
    body = _api_definition(sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"], names)
    # A deployment is a snapshot: a new logical id per API definition makes an update redeploy.
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]
    deployment = f"ApiDeployment{digest}"
    stage: dict[str, Any] = {
        "RestApiId": {"Ref": "RestApi"},
        "StageName": API_STAGE,
        "DeploymentId": {"Ref": deployment},
        "TracingEnabled": options.tracing,
        "AccessLogSetting": {
            # The group's ARN without the ":*" its `Arn` attribute ends with.
            "DestinationArn": {"Fn::Sub": arn("logs", f"log-group:{names.access_log_group}")},
            "Format": ACCESS_LOG_FORMAT,
        },
        # Stage-wide throttling. Per-method metrics stay off: each would be a paid custom metric,
        # and the API-wide ones (Count, 4XX, 5XX, Latency) come free.
        "MethodSettings": [
            {
                "ResourcePath": "/*",
                "HttpMethod": "*",
                "MetricsEnabled": False,
                "ThrottlingRateLimit": options.throttle_rate,
                "ThrottlingBurstLimit": options.throttle_burst,
            }
        ],
    }
    resources: dict[str, Any] = {
        "RestApi": {
            "Type": "AWS::ApiGateway::RestApi",
            "Properties": {
                "Name": names.rest_api,
                "EndpointConfiguration": {"Types": ["REGIONAL"]},
                "Body": body,
            },
        },
        deployment: {"Type": "AWS::ApiGateway::Deployment", "Properties": {"RestApiId": {"Ref": "RestApi"}}},
        "ApiAccessLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {"LogGroupName": names.access_log_group, "RetentionInDays": options.log_retention_days},
        },
        "ApiStage": {"Type": "AWS::ApiGateway::Stage", "DependsOn": ["ApiAccessLogGroup"], "Properties": stage},
        "ApiInvokePermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "FunctionName": {"Ref": "APIHandler"},
                "Action": "lambda:InvokeFunction",
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": {"Fn::Sub": arn("execute-api", "${RestApi}/*")},
            },
        },
        "Api5xxAlarm": _alarm(
            f"{names.rest_api}: API answered 5XX",
            "AWS/ApiGateway",
            "5XXError",
            {"ApiName": names.rest_api, "Stage": API_STAGE},
            actions,
        ),
    }
    if options.domain:
        if not options.certificate_arn:
            raise ValueError("A custom domain needs the ARN of its ACM certificate (in the stack's region).")
        resources["ApiDomain"] = {
            "Type": "AWS::ApiGateway::DomainName",
            "Properties": {
                "DomainName": options.domain,
                "RegionalCertificateArn": options.certificate_arn,
                "EndpointConfiguration": {"Types": ["REGIONAL"]},
                "SecurityPolicy": "TLS_1_2",
            },
        }
        resources["ApiBasePath"] = {
            "Type": "AWS::ApiGateway::BasePathMapping",
            "Properties": {
                "DomainName": {"Ref": "ApiDomain"},
                "RestApiId": {"Ref": "RestApi"},
                "Stage": {"Ref": "ApiStage"},
            },
        }
    return resources


def build_template(sam: dict[str, Any], names: StageNames, options: TemplateOptions) -> dict[str, Any]:
    """The stack's template for `names.stage`, from the SAM template `chalice package` wrote."""
    sam = copy.deepcopy(sam)
    resources: dict[str, Any] = {}
    actions: list[Any] = []
    if options.alarm_email:
        resources["AlarmTopic"] = {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": f"tether-{names.stage}-alarms",
                "Subscription": [{"Protocol": "email", "Endpoint": options.alarm_email}],
            },
        }
        actions = [{"Ref": "AlarmTopic"}]
    resources["TetherTable"] = _table(names)
    for kind in ("Read", "Write"):
        resources[f"Table{kind}ThrottlesAlarm"] = _alarm(
            f"{names.table}: {kind.lower()}s throttled",
            "AWS/DynamoDB",
            f"{kind}ThrottleEvents",
            {"TableName": {"Ref": "TetherTable"}},
            actions,
        )
    resources.update(_functions(sam, names, options, actions))
    resources.update(_failed_runs(names, actions))
    resources.update(_api(sam, names, options, actions))
    resources.update(extra_resources(names, options))
    callback = {"Fn::Join": ["", [public_url(names, options), "/oauth/callback"]]}
    outputs: dict[str, Any] = {
        "ApiUrl": {"Description": "Base URL of every SDK service", "Value": public_url(names, options)},
        "OAuthCallbackUrl": {"Description": "Redirect URI to register at WordPress.com", "Value": callback},
        "ExecuteApiUrl": {
            "Value": {"Fn::Sub": f"https://${{RestApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{API_STAGE}"}
        },
        "TableName": {"Value": {"Ref": "TetherTable"}},
        "ApiFunctionName": {"Value": {"Ref": "APIHandler"}},
    }
    if options.domain:
        outputs["DomainTarget"] = {
            "Description": "Point the domain's DNS (CNAME or alias) here",
            "Value": {"Fn::GetAtt": ["ApiDomain", "RegionalDomainName"]},
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Tether, stage {names.stage}",
        "Parameters": {
            "CodeBucket": {"Type": "String", "Description": "S3 bucket holding the functions' deployment package"},
            "CodeKey": {"Type": "String", "Description": "Its key (a new key per code change updates the functions)"},
        },
        "Resources": resources,
        "Outputs": outputs,
    }


def render(template: dict[str, Any]) -> str:
    """The template as compact JSON (what is uploaded and measured against the limits)."""
    return json.dumps(template, separators=(",", ":"), sort_keys=False)
