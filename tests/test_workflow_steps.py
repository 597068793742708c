"""Workflow steps beyond `request`: `http` steps and their SSRF rules, user settings in
templates, and a request-triggered run slower than its caller's deadline."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib.adapters.public_http import is_public_address
from tests.conftest import Api, ProjectHandle
from tests.connect_flow import connect
from tests.test_workflows import ARTICLE_WORKFLOW, deploy, event, wait_for_run
from tests.workflow_examples import slow_request_workflow
from wpcom_sandbox.server import WordPressSandbox


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # the instance metadata service
        ("100.64.0.1", False),  # shared address space
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:169.254.169.254", False),
    ],
)
def test_only_public_addresses_may_be_called(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_loopback_is_allowed_only_when_asked() -> None:
    assert is_public_address("127.0.0.1", allow_loopback=True)
    assert is_public_address("::1", allow_loopback=True)
    assert not is_public_address("10.0.0.1", allow_loopback=True)


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        _Recorder.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        reply = json.dumps({"received": json.loads(body or b"null"), "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An https server on 127.0.0.1 for `localhost`, with a self-signed certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _Recorder.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert_file
    finally:
        server.shutdown()
        server.server_close()


def http_workflow(port: int) -> dict[str, Any]:
    return {
        "name": "Notify",
        "integration": "wordpress",
        "defaultEnabled": True,
        "trigger": {"type": "app_event", "event": "notify"},
        "steps": [
            {
                "id": "hook",
                "type": "http",
                "method": "POST",
                "url": f"https://127.0.0.1:{port}/hooks/{{{{ user.id }}}}",
                "headers": {"X-Api-Key": "{{ settings.apiKey }}", "X-Kind": "notify"},
                "body": {"title": "{{ trigger.payload.title }}"},
                "retry": {"maxAttempts": 1},
            }
        ],
    }


def test_an_http_step_to_a_loopback_address_is_refused(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, tls_server: tuple[int, Path]
) -> None:
    port, _ = tls_server
    connect(api, project, sandbox, "alice")
    deploy(api, project, "notify", http_workflow(port))
    [run_id] = event(api, project, project.token("alice"), "notify", {"title": "t"})
    run = wait_for_run(api, project, run_id)
    assert run["status"] == "FAILED"
    [step] = run["steps"]
    assert step["error"]["code"] == "blocked_destination"
    assert _Recorder.seen == []


def test_an_http_step_posts_with_resolved_templates_and_redacts_secret_headers(
    engine: None,
    api: Api,
    project: ProjectHandle,
    sandbox: WordPressSandbox,
    tls_server: tuple[int, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chalicelib.wiring import reset_services

    port, cert = tls_server
    monkeypatch.setenv("TETHER_HTTP_STEPS_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("TETHER_HTTP_STEPS_CA_BUNDLE", str(cert))
    reset_services()
    credential_id = connect(api, project, sandbox, "alice")
    deploy(api, project, "notify", http_workflow(port))
    token = project.token("alice")
    # The user's workflow settings, as the SDK's updateWorkflowUserSettings sends them.
    patched = api.call(
        "PATCH",
        f"/projects/{project.id}/sdk/credentials/{credential_id}",
        token=token,
        body={"config": {"workflowSettings": {"notify": {"settings": {"apiKey": "k-123"}}}}},
    )
    assert patched.status == 200, patched.json
    assert patched.json["configurations"][0]["workflowSettings"]["notify"] == {
        "enabled": True,
        "settings": {"apiKey": "k-123"},
    }
    me = api.call("GET", f"/projects/{project.id}/sdk/me", token=token).json
    assert me["integrations"]["wordpress"]["workflowSettings"]["notify"]["settings"] == {"apiKey": "k-123"}
    [run_id] = event(api, project, token, "notify", {"title": "Hi"})
    run = wait_for_run(api, project, run_id)
    assert run["status"] == "SUCCEEDED", run
    [sent] = _Recorder.seen
    assert sent["path"] == "/hooks/alice"
    assert sent["headers"]["X-Api-Key"] == "k-123"
    assert json.loads(sent["body"]) == {"title": "Hi"}
    [step] = run["steps"]
    assert step["output"] == {"received": {"title": "Hi"}, "path": "/hooks/alice"}
    assert step["input"]["headers"] == {"X-Api-Key": "[redacted]", "X-Kind": "notify"}


def test_a_request_workflow_slower_than_the_deadline_answers_504_and_still_finishes(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.wiring import reset_services

    monkeypatch.setenv("TETHER_WORKFLOW_SYNC_TIMEOUT_SECONDS", "1")
    reset_services()
    connect(api, project, sandbox, "alice")
    deploy(api, project, "slow", slow_request_workflow(2))
    response = api.call("POST", f"/projects/{project.id}/sdk/triggers/slow", token=project.token("alice"), body={})
    assert response.status == 504
    assert response.json["code"] == "workflow_timeout"
    run = wait_for_run(api, project, response.json["runId"])
    assert run["status"] == "SUCCEEDED"


def test_templates_read_the_users_settings(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    credential_id = connect(api, project, sandbox, "alice")
    definition = json.loads(json.dumps(ARTICLE_WORKFLOW))
    definition["steps"][1]["body"]["title"] = "{{ settings.prefix }}{{ trigger.payload.title }}"
    deploy(api, project, "post-articles", definition)
    token = project.token("alice")
    api.call(
        "PATCH",
        f"/projects/{project.id}/sdk/credentials/{credential_id}",
        token=token,
        body={"config": {"workflowSettings": {"post-articles": {"settings": {"prefix": "[Blog] "}}}}},
    )
    [run_id] = event(api, project, token, "article.published", {"title": "News", "body": "b"})
    run = wait_for_run(api, project, run_id)
    assert run["steps"][1]["output"]["title"] == "[Blog] News"


def test_a_1_mb_step_output_is_kept_in_s3_and_read_back_by_templates_and_the_runs_api(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    import boto3

    connect(api, project, sandbox, "alice")
    site = api.call(
        "GET", f"/projects/{project.id}/sdk/proxy/wordpress/v1.1/me/sites", token=project.token("alice")
    ).json["sites"][0]["ID"]
    big = {"sites": [{"ID": site}], "marker": "from-a-big-answer", "padding": "x" * 1_000_000}
    sandbox.state.fail_next("/rest/v1.1/me/sites", 200, big)
    definition = json.loads(json.dumps(ARTICLE_WORKFLOW))
    definition["steps"][1]["body"]["title"] = "{{ steps.sites.output.marker }}"
    deploy(api, project, "post-articles", definition)
    [run_id] = event(api, project, project.token("alice"), "article.published", {"title": "t", "body": "b"})
    run = wait_for_run(api, project, run_id)
    assert run["status"] == "SUCCEEDED", run
    sites, post = run["steps"]
    assert sites["output"] == big  # the runs API reads the stored output back
    assert post["input"]["path"] == f"v1.1/sites/{site}/posts/new"
    assert post["output"]["title"] == "from-a-big-answer"
    # The state machine never carried the output itself.
    history = boto3.client("stepfunctions").get_execution_history(executionArn=run["executionArn"], maxResults=1000)
    sizes = [len(json.dumps(event, default=str)) for event in history["events"]]
    assert max(sizes) < 256 * 1024
    assert any("$tetherOutput" in json.dumps(event, default=str) for event in history["events"])
