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
    resources: dict[str, Any] = {"TetherTable": table}
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
                "Sid": "DeleteOnlyWithRecoveryWindow",
                "Effect": "Deny",
                "Action": ["secretsmanager:DeleteSecret"],
                "Resource": "*",
                "Condition": {"Bool": {"secretsmanager:ForceDeleteWithoutRecovery": "true"}},
            },
        ],
    }
