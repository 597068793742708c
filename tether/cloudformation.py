"""CloudFormation resources that `chalice package` does not create: the table, and API Gateway
responses in Tether's error format. Merged in with `chalice package --merge-template`."""

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
