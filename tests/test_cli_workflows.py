"""`tether workflows ...` and `tether runs ...` through the real CLI, over HTTP, against the app served
on loopback in this process (moto runs the state machines; the step runner is invoked in-process)."""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.conftest import Api, ProjectHandle, SecretWatch
from tests.connect_flow import connect
from tests.test_workflows import ARTICLE_WORKFLOW, event, wait_for_run
from tether.cli import cli
from tether.local_server import LocalApiServer
from wpcom_sandbox.server import WordPressSandbox

ARTICLE_YAML = """\
# The pinned two-step example, as YAML.
name: Post new articles
integration: wordpress
defaultEnabled: true
trigger: {type: app_event, event: article.published}
steps:
  - id: sites
    type: request
    method: GET
    path: v1.1/me/sites
  - id: post
    type: request
    method: POST
    path: "v1.1/sites/{{ steps.sites.output.sites[0].ID }}/posts/new"
    body:
      title: "{{ trigger.payload.title }}"
      content: "{{ trigger.payload.body }}"
"""


class Cli:
    """Runs `tether` commands against one project, through a `tether dev`-style state file."""

    def __init__(self, state_file: Path, watch: SecretWatch) -> None:
        self.state_file = state_file
        self.watch = watch

    def __call__(self, *args: str, env: dict[str, str] | None = None, state: bool = True) -> Result:
        extra = ["--state-file", str(self.state_file)] if state else []
        result = CliRunner().invoke(cli, [*args, *extra], env=env)
        # What the CLI prints counts as a response for the secret guard.
        self.watch.seen.append(result.output)
        return result

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result


@pytest.fixture
def server(api: Api) -> Iterator[LocalApiServer]:
    """The same app the `api` fixture tests, served over HTTP on loopback."""
    from app import app

    running = LocalApiServer(app, "127.0.0.1", 0)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def tether(server: LocalApiServer, project: ProjectHandle, tmp_path: Path, secret_watch: SecretWatch) -> Cli:
    state_file = tmp_path / "dev-state.json"
    state = {"apiUrl": server.url, "projectId": project.id, "projectSecretKey": project.secret_key}
    state_file.write_text(json.dumps(state))
    return Cli(state_file, secret_watch)


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def stderr_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_deploy_json_prints_id_and_version_and_list_shows_the_current_version(
    tether: Cli, api: Api, project: ProjectHandle, tmp_path: Path
) -> None:
    file = write(tmp_path, "articles.json", ARTICLE_WORKFLOW)
    first = tether.ok("workflows", "deploy", str(file), "--id", "post-articles")
    assert first.stdout.strip() == "Deployed post-articles version 1"
    second = tether.ok("workflows", "deploy", str(file), "--id", "post-articles")
    assert second.stdout.strip() == "Deployed post-articles version 2"
    stored = api.call("GET", f"/projects/{project.id}/workflows/post-articles", headers=project.admin).json
    assert stored["version"] == 2
    assert stored["steps"] == ARTICLE_WORKFLOW["steps"]

    table = tether.ok("workflows", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "VERSION", "INTEGRATION", "TRIGGER", "NAME", "UPDATED"]
    assert len(table) == 2
    assert table[1].split()[:5] == ["post-articles", "2", "wordpress", "app_event", "article.published"]
    assert "Post new articles" in table[1]
    listed = json.loads(tether.ok("workflows", "list", "--json").stdout)
    assert [(w["id"], w["version"]) for w in listed["workflows"]] == [("post-articles", 2)]


def test_deploy_yaml_takes_the_id_from_the_file_name(
    tether: Cli, api: Api, project: ProjectHandle, tmp_path: Path
) -> None:
    file = write(tmp_path, "yaml-articles.yaml", ARTICLE_YAML)
    assert tether.ok("workflows", "deploy", str(file)).stdout.strip() == "Deployed yaml-articles version 1"
    shown = json.loads(tether.ok("workflows", "show", "yaml-articles").stdout)
    assert shown["id"] == "yaml-articles"
    assert shown["version"] == 1
    assert {key: shown[key] for key in ARTICLE_WORKFLOW} == ARTICLE_WORKFLOW
    stored = api.call("GET", f"/projects/{project.id}/workflows/yaml-articles", headers=project.admin).json
    assert stored["steps"] == ARTICLE_WORKFLOW["steps"]


def test_deploying_a_webhook_workflow_prints_its_url_and_the_secret_once(tether: Cli, tmp_path: Path) -> None:
    hook = {**ARTICLE_WORKFLOW, "trigger": {"type": "webhook", "userIdPath": "customer.id"}}
    file = write(tmp_path, "order-paid.json", hook)
    first = tether.ok("workflows", "deploy", str(file)).stdout.splitlines()
    assert first[0] == "Deployed order-paid version 1"
    assert first[1].startswith("Webhook URL: http")
    assert first[2].startswith("Webhook secret (shown once): ")
    assert len(first[2].split(": ", 1)[1]) >= 32
    again = tether.ok("workflows", "deploy", str(file)).stdout.splitlines()
    assert again == ["Deployed order-paid version 2", first[1]]


def test_rotating_a_webhook_secret_prints_the_new_one_and_how_long_the_old_one_works(
    tether: Cli, tmp_path: Path
) -> None:
    hook = {**ARTICLE_WORKFLOW, "trigger": {"type": "webhook", "userIdPath": "customer.id"}}
    created = tether.ok("workflows", "deploy", str(write(tmp_path, "order-paid.json", hook))).stdout.splitlines()
    old_secret = created[2].split(": ", 1)[1]
    rotated = tether.ok("workflows", "rotate-webhook-secret", "order-paid", "--grace", "600").stdout.splitlines()
    assert rotated[0] == created[1]  # the URL stays
    assert rotated[1].startswith("Webhook secret (shown once): ")
    assert rotated[1].split(": ", 1)[1] != old_secret
    assert rotated[2].startswith("The previous secret works until 20")
    tether.ok("workflows", "deploy", str(write(tmp_path, "plain.json", ARTICLE_WORKFLOW)))
    refused = tether("workflows", "rotate-webhook-secret", "plain")
    assert refused.exit_code == 1
    assert "not_a_webhook_workflow" in refused.output
    too_long = tether("workflows", "rotate-webhook-secret", "order-paid", "--grace", "999999999")
    assert too_long.exit_code == 2


def test_an_invalid_definition_prints_every_problem_with_its_path_and_changes_nothing(
    tether: Cli, api: Api, project: ProjectHandle, tmp_path: Path
) -> None:
    good = write(tmp_path, "wf.json", ARTICLE_WORKFLOW)
    tether.ok("workflows", "deploy", str(good))
    broken = copy.deepcopy(ARTICLE_WORKFLOW)
    broken["colour"] = "blue"  # unknown field
    broken["steps"][0]["type"] = "teleport"  # unknown step type
    broken["steps"][1]["id"] = "sites"  # duplicate id
    broken["steps"].append(
        {"id": "later", "type": "request", "method": "GET", "path": "v1.1/sites/{{ steps.never.output.ID }}"}
    )
    file = write(tmp_path, "broken.json", broken)
    result = tether("workflows", "deploy", str(file), "--id", "wf")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = stderr_lines(result)
    assert lines[0].startswith("Error: ")
    assert lines[0].endswith("(invalid_workflow)")
    problems = lines[1:]
    # The same problems the API lists, one per line, each with its path.
    answer = api.call("PUT", f"/projects/{project.id}/workflows/wf", body=broken, headers=project.admin)
    assert answer.status == 400
    expected = [f"{p['path']}: {p['message']}" for p in answer.json["problems"]]
    assert len(expected) >= 4
    assert [line.strip() for line in problems] == expected
    assert any(line.strip().startswith("$.colour") for line in problems)
    assert any(line.strip().startswith("$.steps[0].type") for line in problems)
    # Nothing changed: still version 1.
    assert json.loads(tether.ok("workflows", "show", "wf").stdout)["version"] == 1


def test_unreadable_definitions_are_one_line_errors(tether: Cli, tmp_path: Path) -> None:
    not_json = tether("workflows", "deploy", str(write(tmp_path, "a.json", '{"name": ')))
    assert not_json.exit_code == 1
    assert stderr_lines(not_json) == [stderr_lines(not_json)[0]]
    assert "is not valid JSON" in not_json.stderr
    not_yaml = tether("workflows", "deploy", str(write(tmp_path, "b.yml", "steps: [unclosed\n")))
    assert not_yaml.exit_code == 1
    assert len(stderr_lines(not_yaml)) == 1
    assert "is not valid YAML" in not_yaml.stderr
    # YAML reads an unquoted date as a date, which JSON cannot carry: say where, do not send it.
    dated = tether("workflows", "deploy", str(write(tmp_path, "c.yaml", "name: x\ntrigger: {since: 2026-01-02}\n")))
    assert dated.exit_code == 1
    assert len(stderr_lines(dated)) == 1
    assert "$.trigger.since" in dated.stderr
    assert "quote it" in dated.stderr


def test_show_asl_prints_the_compiled_state_machine_the_same_way_every_time(tether: Cli, tmp_path: Path) -> None:
    three = copy.deepcopy(ARTICLE_WORKFLOW)
    three["steps"].append({"id": "me", "type": "request", "method": "GET", "path": "v1.1/me"})
    tether.ok("workflows", "deploy", str(write(tmp_path, "three.json", three)))
    first = tether.ok("workflows", "show", "three", "--asl")
    again = tether.ok("workflows", "show", "three", "--asl")
    assert first.stdout == again.stdout
    asl = json.loads(first.stdout)
    assert first.stdout.strip() == json.dumps(asl, indent=2, sort_keys=True, ensure_ascii=False)
    # One Task state per request step, named by the step's id.
    assert {name: asl["States"][name]["Type"] for name in ("sites", "post", "me")} == dict.fromkeys(
        ("sites", "post", "me"), "Task"
    )
    assert asl["StartAt"] == "sites"
    assert "STANDARD state machine of version 1: arn:aws:states:" in first.stderr


def test_delete_then_show_is_a_one_line_not_found(tether: Cli, tmp_path: Path) -> None:
    tether.ok("workflows", "deploy", str(write(tmp_path, "gone.json", ARTICLE_WORKFLOW)))
    assert tether.ok("workflows", "delete", "gone").stdout.strip() == "Deleted gone"
    assert tether.ok("workflows", "list").stdout.strip() == "No workflows."
    missing = tether("workflows", "show", "gone")
    assert missing.exit_code == 1
    assert stderr_lines(missing) == ["Error: No workflow with this id in this project. (workflow_not_found, HTTP 404)"]
    again = tether("workflows", "delete", "gone")
    assert again.exit_code == 1
    assert "workflow_not_found" in again.stderr


def test_runs_list_show_and_replay(
    engine: None,
    tether: Cli,
    api: Api,
    project: ProjectHandle,
    sandbox: WordPressSandbox,
    tmp_path: Path,
) -> None:
    connect(api, project, sandbox, "alice")
    tether.ok("workflows", "deploy", str(write(tmp_path, "post-articles.json", ARTICLE_WORKFLOW)))
    failing = copy.deepcopy(ARTICLE_WORKFLOW)
    failing["steps"] = [{"id": "missing", "type": "request", "method": "GET", "path": "v1.1/sites/999999999/posts/1"}]
    tether.ok("workflows", "deploy", str(write(tmp_path, "missing.json", failing)))
    token = project.token("alice")
    run_ids = event(api, project, token, "article.published", {"title": "From the CLI", "body": "Hi"})
    runs = {run["workflowId"]: run for run in (wait_for_run(api, project, run_id) for run_id in run_ids)}
    good, bad = runs["post-articles"], runs["missing"]
    assert (good["status"], bad["status"]) == ("SUCCEEDED", "FAILED")

    table = tether.ok("runs", "list").stdout.splitlines()
    assert table[0].split() == ["RUN", "WORKFLOW", "VERSION", "USER", "STATUS", "STARTED", "ENDED", "REPLAY", "OF"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows[good["id"]][1:5] == ["post-articles", "1", "alice", "SUCCEEDED"]
    assert rows[bad["id"]][1:5] == ["missing", "1", "alice", "FAILED"]
    as_json = json.loads(tether.ok("runs", "list", "--json").stdout)
    assert {run["id"] for run in as_json["runs"]} == {good["id"], bad["id"]}
    assert "nextCursor" in as_json

    # Filters reach the API.
    only_failed = json.loads(tether.ok("runs", "list", "--status", "failed", "--json").stdout)["runs"]
    assert [run["id"] for run in only_failed] == [bad["id"]]
    only_workflow = json.loads(tether.ok("runs", "list", "--workflow", "post-articles", "--json").stdout)["runs"]
    assert [run["id"] for run in only_workflow] == [good["id"]]
    assert tether.ok("runs", "list", "--user", "bob").stdout.strip() == "No runs."
    one = tether.ok("runs", "list", "--limit", "1", "--json")
    page = json.loads(one.stdout)
    assert len(page["runs"]) == 1
    assert page["nextCursor"]
    rest = json.loads(tether.ok("runs", "list", "--limit", "1", "--cursor", page["nextCursor"], "--json").stdout)
    assert {page["runs"][0]["id"], rest["runs"][0]["id"]} == {good["id"], bad["id"]}
    assert f"More runs: --cursor {page['nextCursor']}" in tether.ok("runs", "list", "--limit", "1").stderr

    shown = tether.ok("runs", "show", good["id"]).stdout.splitlines()
    assert f"Run:       {good['id']}" in shown
    assert "Workflow:  post-articles (version 1)" in shown
    assert "Status:    SUCCEEDED" in shown
    assert "Trigger:   app_event article.published" in shown
    steps = shown[shown.index("") + 1 :]
    assert steps[0].split() == ["STEP", "STATUS", "ATTEMPTS", "HTTP", "ERROR"]
    assert [line.split() for line in steps[1:]] == [
        ["sites", "SUCCEEDED", "1", "200", "-"],
        ["post", "SUCCEEDED", "1", "200", "-"],
    ]
    failed = tether.ok("runs", "show", bad["id"]).stdout
    assert "Status:    FAILED" in failed
    assert "Error:     TetherStepFailed" in failed
    [step_row] = [line for line in failed.splitlines() if line.startswith("missing ")]
    assert step_row.split()[:4] == ["missing", "FAILED", "1", "404"]
    assert "404" in " ".join(step_row.split()[4:])
    detail = json.loads(tether.ok("runs", "show", good["id"], "--json").stdout)
    assert detail["steps"][1]["input"]["body"] == {"title": "From the CLI", "content": "Hi"}

    replayed = tether.ok("runs", "replay", good["id"]).stdout.strip()
    assert replayed.startswith("Started run ")
    assert replayed.endswith(f"(replay of {good['id']})")
    new_id = replayed.split()[2]
    again = wait_for_run(api, project, new_id)
    assert again["replayOf"] == good["id"]
    assert again["trigger"] == good["trigger"]
    assert again["status"] == "SUCCEEDED"
    newest = tether.ok("runs", "list", "--workflow", "post-articles").stdout.splitlines()[1].split()
    assert newest[0] == new_id
    assert newest[-1] == good["id"]


def test_api_errors_are_one_line_and_exit_1(
    tether: Cli, server: LocalApiServer, project: ProjectHandle, tmp_path: Path
) -> None:
    unknown_run = tether("runs", "show", "run-that-does-not-exist")
    assert unknown_run.exit_code == 1
    assert len(stderr_lines(unknown_run)) == 1
    assert "(run_not_found, HTTP 404)" in unknown_run.stderr
    bad_id = tether("workflows", "deploy", str(write(tmp_path, "has space.json", ARTICLE_WORKFLOW)))
    assert bad_id.exit_code == 1
    assert len(stderr_lines(bad_id)) == 1
    assert "invalid_workflow_id" in bad_id.stderr

    # Another project's key is refused; the key itself never shows.
    wrong_key = "tsk_" + "x" * 40
    tether.watch.add(wrong_key)
    refused = tether(
        "workflows",
        "list",
        state=False,
        env={"TETHER_API_URL": server.url, "TETHER_PROJECT_ID": project.id, "TETHER_PROJECT_SECRET_KEY": wrong_key},
    )
    assert refused.exit_code == 1
    [line] = stderr_lines(refused)
    assert line.startswith("Error: ")
    assert "HTTP 401" in line

    # Nothing listening: a network error, one line.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    down = tether(
        "runs",
        "list",
        state=False,
        env={"TETHER_API_URL": url, "TETHER_PROJECT_ID": project.id, "TETHER_PROJECT_SECRET_KEY": project.secret_key},
    )
    assert down.exit_code == 1
    [line] = stderr_lines(down)
    assert line.startswith("Error: Cannot reach Tether: ConnectionError")


def test_environment_variables_select_the_deployment(
    tether: Cli, server: LocalApiServer, project: ProjectHandle, tmp_path: Path
) -> None:
    env = {
        "TETHER_API_URL": server.url,
        "TETHER_PROJECT_ID": project.id,
        "TETHER_PROJECT_SECRET_KEY": project.secret_key,
    }
    deployed = tether("workflows", "deploy", str(write(tmp_path, "env.json", ARTICLE_WORKFLOW)), state=False, env=env)
    assert deployed.exit_code == 0, deployed.output
    assert deployed.stdout.strip() == "Deployed env version 1"


def test_next_to_tether_dev_its_default_state_file_is_used(
    tether: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("TETHER_API_URL", "TETHER_PROJECT_ID", "TETHER_PROJECT_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".tether").mkdir()
    (tmp_path / ".tether" / "dev-state.json").write_text(tether.state_file.read_text())
    file = write(tmp_path, "here.json", ARTICLE_WORKFLOW)
    deployed = tether("workflows", "deploy", str(file), state=False)
    assert deployed.exit_code == 0, deployed.output
    assert deployed.stdout.strip() == "Deployed here version 1"
    # A key in the environment is not paired with the state file's URL and project (one source only).
    other_key = "tsk_" + "o" * 40
    tether.watch.add(other_key)
    mixed = tether("workflows", "list", state=False, env={"TETHER_PROJECT_SECRET_KEY": other_key})
    assert mixed.exit_code == 2
    assert "--api-url" in mixed.stderr


def test_without_a_deployment_to_talk_to_it_says_how_to_name_one(
    tether: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .tether/dev-state.json here
    for name in ("TETHER_API_URL", "TETHER_PROJECT_ID", "TETHER_PROJECT_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = tether("workflows", "list", state=False)
    assert result.exit_code == 2
    assert "--state-file" in result.stderr
    assert "TETHER_PROJECT_SECRET_KEY" in result.stderr
