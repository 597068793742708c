"""CloudFormation resources that `chalice package` does not create: the table, and API Gateway
responses in Tether's error format. Merged in with `chalice package --merge-template`.
Also the Lambda role's IAM policy that `.chalice/policy-<stage>.json` holds."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters import keys
from tether.provision import table_definition

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

TABLE_ACTIONS = [
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "BatchGetItem",
    "BatchWriteItem",
    "ConditionCheckItem",
]


def merge_template(table_name: str) -> dict[str, Any]:
    """The resources to merge into chalice's SAM template for a stage whose table is `table_name`."""
    definition = table_definition(table_name)
    table = {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            **{key: definition[key] for key in ("TableName", "BillingMode", "AttributeDefinitions", "KeySchema")},
            "GlobalSecondaryIndexes": definition["GlobalSecondaryIndexes"],
            "TimeToLiveSpecification": {"AttributeName": keys.TTL_ATTRIBUTE, "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    }
    resources: dict[str, Any] = {"TetherTable": table, **workflow_resources(table_name)}
    for response_type, (status, message, code) in GATEWAY_RESPONSES.items():
        properties: dict[str, Any] = {
            "RestApiId": {"Ref": "RestAPI"},
            "ResponseType": response_type,
            "ResponseParameters": {
                "gatewayresponse.header.Access-Control-Allow-Origin": "'*'",
                "gatewayresponse.header.X-Tether-Error": f"'{code}'",
            },
            "ResponseTemplates": {"application/json": json.dumps({"message": message, "code": code})},
        }
        if status is not None:
            properties["StatusCode"] = str(status)
        name = "".join(part.title() for part in response_type.split("_"))
        resources[f"GatewayResponse{name}"] = {"Type": "AWS::ApiGateway::GatewayResponse", "Properties": properties}
    return {"Resources": resources}


def workflow_resources(table_name: str) -> dict[str, Any]:
    """The role workflow state machines run as (it may invoke the step runner, nothing else), and
    the environment telling the functions the runner's and the role's ARNs."""
    role_name = f"{state_machine_prefix(table_name)}workflows"
    runner_arn = {"Fn::GetAtt": ["StepRunner", "Arn"]}
    role_arn = {"Fn::GetAtt": ["TetherWorkflowRole", "Arn"]}
    bucket_name = {"Fn::Sub": f"{state_machine_prefix(table_name)}step-outputs-${{AWS::AccountId}}-${{AWS::Region}}"}
    environment = {
        "Environment": {
            "Variables": {
                "TETHER_STEP_RUNNER_ARN": runner_arn,
                "TETHER_WORKFLOW_ROLE_ARN": role_arn,
                "TETHER_OUTPUTS_BUCKET": {"Ref": "TetherStepOutputs"},
                **schedule_environment(table_name),
            }
        }
    }
    return {
        **schedule_resources(table_name),
        "TetherStepOutputs": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": bucket_name,
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
        "TetherWorkflowRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": role_name,
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
                                {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": runner_arn}
                            ],
                        },
                    }
                ],
            },
        },
        "APIHandler": {"Properties": environment},
        "StepRunner": {
            "Properties": {"Environment": {"Variables": {"TETHER_OUTPUTS_BUCKET": {"Ref": "TetherStepOutputs"}}}}
        },
        # The dispatcher arms daylight-saving catch-ups: it creates schedules too.
        "ScheduleDispatcher": {"Properties": {"Environment": {"Variables": schedule_environment(table_name)}}},
    }


def schedule_resources(table_name: str) -> dict[str, Any]:
    """The role EventBridge Scheduler invokes the schedule dispatcher as (nothing else)."""
    return {
        "TetherSchedulerRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": f"{state_machine_prefix(table_name)}scheduler",
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
                                    "Resource": {"Fn::GetAtt": ["ScheduleDispatcher", "Arn"]},
                                }
                            ],
                        },
                    }
                ],
            },
        }
    }


def schedule_environment(table_name: str) -> dict[str, Any]:
    """The dispatcher's and the scheduler role's ARNs, built from their names: the dispatcher's own
    environment cannot refer to the role by `GetAtt` (the role's policy refers to the dispatcher)."""
    prefix = state_machine_prefix(table_name)
    return {
        "TETHER_SCHEDULE_DISPATCHER_ARN": {
            "Fn::Sub": f"arn:${{AWS::Partition}}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:{prefix}"
            "schedule_dispatcher"
        },
        "TETHER_SCHEDULER_ROLE_ARN": {
            "Fn::Sub": f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{prefix}scheduler"
        },
    }


def state_machine_prefix(table_name: str) -> str:
    """Workflow state machines are named `tether-<stage>-...` (see `state_machine_name`); with
    the default table name `tether-<stage>` that is the table name and a dash."""
    return f"{table_name}-"


def runtime_policy(table_name: str, secret_prefix: str) -> dict[str, Any]:
    """The Lambda role's IAM policy (what `.chalice/policy-<stage>.json` holds).

    The runtime reads every Tether secret but writes only project client secrets (create a new
    one, schedule an old one for deletion). The keyring and the development keys are the
    operator's (the CLI writes them); the role may never change or delete them, and may never
    delete any secret without a recovery window.
    """

    def secret_arn(name: str) -> str:
        return f"arn:*:secretsmanager:*:*:secret:{secret_prefix}/{name}"

    operator_secrets = [secret_arn("data-keys*"), secret_arn("dev-keys*")]
    machines = state_machine_prefix(table_name)
    project_secrets = secret_arn("projects/*")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "arn:*:logs:*:*:*",
            },
            {
                "Sid": "Table",
                "Effect": "Allow",
                "Action": [f"dynamodb:{action}" for action in TABLE_ACTIONS],
                "Resource": [
                    f"arn:*:dynamodb:*:*:table/{table_name}",
                    f"arn:*:dynamodb:*:*:table/{table_name}/index/*",
                ],
            },
            {
                "Sid": "ReadSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue"],
                "Resource": [secret_arn("data-keys-??????"), secret_arn("dev-keys-??????"), project_secrets],
            },
            {
                "Sid": "WriteProjectSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:CreateSecret", "secretsmanager:DeleteSecret"],
                "Resource": project_secrets,
            },
            {
                "Sid": "OperatorSecretsAreReadOnly",
                "Effect": "Deny",
                "NotAction": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                "Resource": operator_secrets,
            },
            {
                "Sid": "WorkflowStateMachines",
                "Effect": "Allow",
                "Action": [
                    "states:CreateStateMachine",
                    "states:DeleteStateMachine",
                    "states:TagResource",
                    "states:StartExecution",
                    "states:StartSyncExecution",
                ],
                "Resource": f"arn:*:states:*:*:stateMachine:{machines}*",
            },
            {
                "Sid": "WorkflowExecutions",
                "Effect": "Allow",
                "Action": ["states:DescribeExecution"],
                "Resource": [f"arn:*:states:*:*:execution:{machines}*:*", f"arn:*:states:*:*:express:{machines}*:*:*"],
            },
            {
                "Sid": "LargeStepOutputs",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:GetObject"],
                "Resource": f"arn:*:s3:::{machines}step-outputs-*/runs/*",
            },
            {
                "Sid": "PassWorkflowRole",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": f"arn:*:iam::*:role/{machines}workflows*",
                "Condition": {"StringEquals": {"iam:PassedToService": "states.amazonaws.com"}},
            },
            {
                "Sid": "WorkflowSchedules",
                "Effect": "Allow",
                "Action": ["scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"],
                "Resource": f"arn:*:scheduler:*:*:schedule/default/{machines}*",
            },
            {
                "Sid": "PassSchedulerRole",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": f"arn:*:iam::*:role/{machines}scheduler",
                "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            },
            {
                "Sid": "ScheduleDispatcherHandsOn",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": f"arn:*:lambda:*:*:function:{machines}schedule_dispatcher",
            },
            {
                "Sid": "DeleteOnlyWithRecoveryWindow",
                "Effect": "Deny",
                "Action": ["secretsmanager:DeleteSecret"],
                "Resource": "*",
                "Condition": {"Bool": {"secretsmanager:ForceDeleteWithoutRecovery": "true"}},
            },
        ],
    }
