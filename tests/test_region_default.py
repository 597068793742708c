"""Which region an operator command goes to without --region: where `tether deploy` put the
stage, then AWS_REGION, then AWS_DEFAULT_REGION (tests/test_deploy.py shows it end to end)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chalicelib.config import stage_names
from tether.aws_target import forget_deployment, record_deployment, resolve_region


def test_the_stages_record_comes_before_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert resolve_region(None, "prod") == "us-east-1"
    path = record_deployment(stage_names("prod"), "eu-west-1", "123456789012", "https://api.example.com")
    assert path == Path(os.environ["TETHER_CONFIG_DIR"]) / "deployed" / "prod.json"
    assert resolve_region(None, "prod") == "eu-west-1"
    assert resolve_region("ap-south-1", "prod") == "ap-south-1"  # --region wins
    assert resolve_region(None, "staging") == "us-east-1"  # another stage: not recorded
    monkeypatch.delenv("AWS_REGION")
    assert resolve_region(None, "staging") == "us-west-2"
    forget_deployment("prod")
    assert resolve_region(None, "prod") == "us-west-2"


def test_an_unreadable_record_is_no_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    path = record_deployment(stage_names("prod"), "eu-west-1", "123456789012", "https://api.example.com")
    for text in ("not json", '["eu-west-1"]', '{"region": ""}', '{"region": 5}'):
        path.write_text(text)
        assert resolve_region(None, "prod") == "us-east-1", text


def test_the_config_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TETHER_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert record_deployment(stage_names("prod"), "eu-west-1", "1", "https://x.example.com") == (
        tmp_path / "tether" / "deployed" / "prod.json"
    )
