"""docs/deploy.md, executed: a reader with no AWS account follows the guide against moto's server
mode and reaches a deployed stage with a configured project (a WordPress.com client and a signing
key), using only the guide's commands.

Every snippet marked `<!-- snippet: NAME (sh...) -->` runs in bash (`set -aeuo pipefail`), in the
guide's order, in a scratch directory whose `.venv` is this checkout's; the variables a snippet
sets (exported or not, as in the reader's one shell) reach the next. What the test changes, and
why:
- moto's port: a free one instead of 5000 (the machine may be running other things);
- `tether deploy` gets `--package DIR`: `chalice package` would fetch wheels from PyPI, and tests
  stay on loopback (tests/packaged.py builds the same package without the third-party wheels);
- `<projectId>` is the id `projects create` printed, as the reader would paste it;
- prompted secrets are written to stdin;
- between starting moto and the next step the test waits for the port, as a reader would.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.packaged import offline_package

REPO_ROOT = Path(__file__).resolve().parent.parent
GUIDE = REPO_ROOT / "docs" / "deploy.md"
SNIPPET = re.compile(r"<!-- snippet: (?P<name>[\w-]+) \((?P<kind>[^)]*)\) -->\n```sh\n(?P<code>.*?)```", re.DOTALL)
ORDER = ["moto", "deploy", "dev-keys", "create-project", "keygen", "configure-project", "show-project"]
RUN_TIMEOUT_S = 180


@dataclass(frozen=True)
class Snippet:
    name: str
    code: str


def snippets() -> list[Snippet]:
    text = GUIDE.read_text()
    found = [Snippet(m["name"], m["code"]) for m in SNIPPET.finditer(text)]
    assert text.count("<!-- snippet:") == len(found), "a snippet marker is not followed by an sh block"
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Reader:
    """The reader's shell: runs snippets, keeps what they export, stops what they started."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("TETHER_", "AWS_")) and name not in ("PYTHONPATH",)
        }
        self.env["HOME"] = str(workdir)  # no ~/.aws of the machine's
        self.groups: list[int] = []

    def run(self, snippet: Snippet, code: str, stdin: str = "") -> str:
        env_file = self.workdir / ".env-after"
        out_file = self.workdir / f".{snippet.name}.out"
        err_file = self.workdir / f".{snippet.name}.err"
        # Files, not pipes: a server the snippet starts in the background keeps its output open.
        with out_file.open("w") as out, err_file.open("w") as err:
            process = subprocess.Popen(
                ["bash", "-c", f"set -aeuo pipefail\n{code}\nenv -0 > {env_file}"],
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                text=True,
                start_new_session=True,  # no controlling terminal: prompts read stdin; one group to stop
            )
            self.groups.append(process.pid)
            process.communicate(stdin, timeout=RUN_TIMEOUT_S)
        printed = out_file.read_text()
        assert process.returncode == 0, f"snippet {snippet.name} failed:\n{printed}\n{err_file.read_text()}"
        self.env = dict(line.split("=", 1) for line in env_file.read_text().split("\0") if "=" in line)
        return printed

    def stop(self) -> None:
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    (tmp_path / ".venv").symlink_to(REPO_ROOT / ".venv")
    shell = Reader(tmp_path)
    try:
        yield shell
    finally:
        shell.stop()


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"moto's server did not listen on {port}")


def test_the_deploy_guide_reaches_a_configured_project_on_motos_server(reader: Reader) -> None:
    guide = {snippet.name: snippet for snippet in snippets()}
    assert list(guide) == ORDER, "the guide's snippets changed: update this test's ORDER"
    port = free_port()

    moto = guide["moto"]
    assert "--port 5000" in moto.code
    assert "127.0.0.1:5000" in moto.code
    reader.run(moto, moto.code.replace("5000", str(port)))
    wait_for_port(port)

    deploy = guide["deploy"]
    assert ".venv/bin/tether deploy --stage prod --region eu-west-1\n" in deploy.code
    package = str(offline_package())
    deployed = reader.run(deploy, deploy.code.replace("eu-west-1\n", f"eu-west-1 --package {package}\n", 1))
    callback = re.search(r"OAuth callback URL:\s+(\S+)", deployed)
    assert callback, deployed
    assert re.fullmatch(r"https://[a-z0-9]+\.execute-api\.eu-west-1\.amazonaws\.com/api/oauth/callback", callback[1])

    reader.run(guide["dev-keys"], guide["dev-keys"].code, stdin="dev-secret\n")
    created = json.loads(reader.run(guide["create-project"], guide["create-project"].code))
    project_id = created["projectId"]
    assert created["projectSecretKey"]
    reader.run(guide["keygen"], guide["keygen"].code)
    configure = guide["configure-project"]
    assert "P=<projectId>" in configure.code
    reader.run(configure, configure.code.replace("<projectId>", project_id), stdin="client-secret\n")

    shown = reader.run(guide["show-project"], guide["show-project"].code)
    assert "12345" in shown  # the WordPress.com client id
    assert "posts" in shown
    assert "media" in shown
    assert "client-secret" not in shown
    assert "dev-secret" not in shown
    public_pem = (reader.workdir / "public.pem").read_text()
    assert "BEGIN PUBLIC KEY" in public_pem
    assert re.search(r'"kid":\s*"[\w-]{43}"', shown), shown  # the registered key's RFC 7638 thumbprint
