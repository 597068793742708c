"""CI smoke test of the real Lambda package (needs the network: chalice fetches Lambda's wheels,
pip installs boto3 into a clean virtualenv).

1. `chalice package` the app as `tether deploy` does, and deploy it to moto's server mode
   (`tether deploy --package`), then create a project with a signing key from the CLI.
2. Unzip the package into a directory and make a virtualenv holding only what Lambda's Python
   runtime provides besides it (boto3).
3. In that virtualenv, with the function's own environment, call the handler with API Gateway
   events: `GET /projects/{pid}` (admin key) and a proxied request on the greedy resource (the
   user has connected nothing: 422 `integration_not_connected`, after the token was verified).

Usage: `.venv/bin/python tools/lambda_smoke.py` (from the repository root).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.config import stage_names  # noqa: E402
from tether import moto_server  # noqa: E402
from tether.deploy import chalice_packager  # noqa: E402
from tether.tokens import generate_rsa_private_key_pem, public_key_pem  # noqa: E402

REGION = "eu-west-1"
STAGE = "lambdasmoke"

# Runs inside the clean virtualenv, with the package on sys.path.
HANDLER_CHECK = r"""
import json, sys, base64, time
import jwt
from app import app

pid, secret_key, private_pem = sys.argv[1], sys.argv[2], sys.stdin.read()

class Context:
    function_name = "tether-lambdasmoke-api"
    memory_limit_in_mb = 512
    aws_request_id = "smoke"
    def get_remaining_time_in_millis(self):
        return 30000

def event(method, resource, path, parameters, headers):
    return {
        "resource": resource, "path": path, "httpMethod": method,
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": parameters, "stageVariables": None, "body": None, "isBase64Encoded": False,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "path": "/api" + path,
                           "stage": "api", "requestId": "smoke", "identity": {"sourceIp": "203.0.113.7"}},
    }

def call(e):
    answer = app(e, Context())
    body = answer["body"]
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return answer["statusCode"], json.loads(body)

status, body = call(event("GET", "/projects/{project_id}", f"/projects/{pid}", {"project_id": pid},
                          {"Authorization": f"Bearer {secret_key}", "Accept": "application/json"}))
assert status == 200 and body["id"] == pid, (status, body)
print("GET /projects/{pid}:", status, body["name"])

now = int(time.time())
token = jwt.encode({"sub": "alice", "iat": now, "exp": now + 300}, private_pem, algorithm="RS256")
greedy = "/projects/{project_id}/sdk/proxy/{integration}/{path+}"
status, body = call(event("GET", greedy, f"/projects/{pid}/sdk/proxy/wordpress/v1.1/me/sites",
                          {"project_id": pid, "integration": "wordpress", "path": "v1.1/me/sites"},
                          {"Authorization": f"Bearer {token}", "Accept": "application/json"}))
assert status == 422 and body["code"] == "integration_not_connected", (status, body)
print("GET .../sdk/proxy/wordpress/v1.1/me/sites:", status, body["code"])
"""


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command, failing loudly."""
    return subprocess.run(command, check=True, text=True, **kwargs)  # type: ignore[call-overload]


def main() -> None:
    """Package, deploy to moto, then call the handler from a clean virtualenv."""
    names = stage_names(STAGE)
    server = moto_server.start()
    env = moto_server.client_environment(server, REGION)
    endpoint = env["AWS_ENDPOINT_URL"]
    tether = str(Path(sys.executable).with_name("tether"))
    with tempfile.TemporaryDirectory(prefix="tether-lambda-smoke-") as work:
        out = Path(work) / "out"
        chalice_packager()(names, REGION, out)
        run([tether, "deploy", "--stage", STAGE, "--package", str(out)], env=env)
        created = json.loads(
            run(
                [tether, "projects", "create", "--stage", STAGE, "--name", "Smoke"], env=env, capture_output=True
            ).stdout
        )
        private_pem = generate_rsa_private_key_pem()
        key_file = Path(work) / "public.pem"
        key_file.write_text(public_key_pem(private_pem))
        run(
            [
                tether,
                "signing-keys",
                "add",
                "--stage",
                STAGE,
                "--project",
                created["projectId"],
                "--public-key",
                str(key_file),
            ],
            env=env,
            capture_output=True,
        )

        package = Path(work) / "package"
        with zipfile.ZipFile(out / "deployment.zip") as archive:
            archive.extractall(package)
        venv = Path(work) / "venv"
        run([sys.executable, "-m", "venv", str(venv)])
        run(
            [
                str(venv / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"boto3=={boto3.__version__}",
            ]
        )
        function = boto3.client(
            "lambda",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's server accepts any
        )
        variables = function.get_function_configuration(FunctionName=names.api_function)["Environment"]["Variables"]
        lambda_env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(package),
            "AWS_LAMBDA_FUNCTION_NAME": names.api_function,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **variables,
        }
        run(
            [
                str(venv / "bin" / "python"),
                "-I",
                "-c",
                "import sys; sys.path.insert(0, sys.argv.pop(1)); exec(sys.argv.pop(1))",
                str(package),
                HANDLER_CHECK,
                created["projectId"],
                created["projectSecretKey"],
            ],
            env=lambda_env,
            input=private_pem,
            cwd=work,
        )
    server.stop()
    print("lambda smoke test: OK")


if __name__ == "__main__":
    main()
