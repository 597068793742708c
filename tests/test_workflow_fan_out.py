"""fan_out end to end on moto's Step Functions interpreter: items from the trigger and from a
step's output, `item`/`index` in templates, each iteration's step records (nested fan_outs
included: one record per outer and inner iteration, none overwriting another), and the list a
fan_out outputs."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, ProjectHandle
from tests.connect_flow import connect
from tests.test_workflows import deploy, event, wait_for_run
from wpcom_sandbox.server import WordPressSandbox

NESTED: dict[str, Any] = {
    "name": "Post each tag of each article",
    "integration": "wordpress",
    "defaultEnabled": True,
    "trigger": {"type": "app_event", "event": "articles.ready"},
    "steps": [
        {"id": "sites", "type": "request", "method": "GET", "path": "v1.1/me/sites"},
        {
            "id": "articles",
            "type": "fan_out",
            "over": "{{ trigger.payload.articles }}",
            "maxConcurrency": 2,
            "steps": [
                {
                    "id": "tags",
                    "type": "fan_out",
                    "over": "{{ item.tags }}",
                    "steps": [
                        {
                            "id": "post",
                            "type": "request",
                            "method": "POST",
                            "path": "v1.1/sites/{{ steps.sites.output.sites[0].ID }}/posts/new",
                            "body": {"title": "{{ item }} #{{ index }}"},
                        }
                    ],
                }
            ],
        },
    ],
}


def test_nested_fan_outs_record_every_iteration_and_output_each_ones_results(
    engine: None, api: Api, project: ProjectHandle, sandbox: WordPressSandbox
) -> None:
    connect(api, project, sandbox, "alice")
    deploy(api, project, "tag-posts", NESTED)
    articles = [{"tags": ["a0", "a1"]}, {"tags": ["b0", "b1", "b2"]}]
    [run_id] = event(api, project, project.token("alice"), "articles.ready", {"articles": articles})
    run = wait_for_run(api, project, run_id, timeout=60)
    assert run["status"] == "SUCCEEDED", run

    posts = [step for step in run["steps"] if step["id"] == "post"]
    seen = {(tuple(step.get("outerIndexes", [])), step["index"]): step["output"]["title"] for step in posts}
    assert seen == {
        ((0,), 0): "a0 #0",
        ((0,), 1): "a1 #1",
        ((1,), 0): "b0 #0",
        ((1,), 1): "b1 #1",
        ((1,), 2): "b2 #2",
    }
    assert all(step["status"] == "SUCCEEDED" for step in posts)
