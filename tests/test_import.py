"""Importing the Lambda handler module must stay cheap: no AWS client, no network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import socket, sys
import botocore.session, boto3

calls = []
def refuse(name):
    def hook(*args, **kwargs):
        calls.append(name)
        raise AssertionError(f"{name} called during import")
    return hook

botocore.session.Session.create_client = refuse("botocore create_client")
boto3.client = refuse("boto3.client")
boto3.resource = refuse("boto3.resource")
socket.socket.connect = refuse("socket.connect")
socket.create_connection = refuse("socket.create_connection")
socket.getaddrinfo = refuse("socket.getaddrinfo")

import app
assert app.app.routes, "no routes registered"
print("CALLS", calls)
"""


def test_importing_app_creates_no_client_and_opens_no_connection() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "CALLS []" in result.stdout


def test_probe_detects_a_client_created_at_import(tmp_path: Path) -> None:
    """The probe above can fail: a module that builds a client at import is caught."""
    (tmp_path / "app.py").write_text("import boto3\nboto3.client('dynamodb', region_name='us-east-1')\n")
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "boto3.client called during import" in result.stderr


# What `import app` must not load: boto3 (with s3transfer, ~150 ms; botocore's clients suffice),
# botocore's session and client machinery (built on first use), and PyJWT with the parts of
# cryptography it pulls in (only user-token checks need them). bench/coldstart.py times it.
HEAVY_MODULES = ("boto3", "s3transfer", "botocore.session", "botocore.client", "jwt", "cryptography.x509")
LOADED_PROBE = "import sys, app\nprint(sorted(m for m in sys.argv[1:] if m in sys.modules))"


def _loaded_by_import(cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", LOADED_PROBE, *HEAVY_MODULES],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_importing_app_loads_neither_boto3_nor_jwt() -> None:
    assert _loaded_by_import(ROOT) == "[]"


def test_heavy_module_probe_sees_an_import(tmp_path: Path) -> None:
    """The probe above can fail: a module that imports boto3's conditions is caught."""
    (tmp_path / "app.py").write_text("from boto3.dynamodb.conditions import Attr\nimport jwt\n")
    assert _loaded_by_import(tmp_path) == (
        "['boto3', 'botocore.client', 'botocore.session', 'cryptography.x509', 'jwt', 's3transfer']"
    )
