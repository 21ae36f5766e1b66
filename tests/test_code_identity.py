"""The suite's code in the run identity (stbench/codeid.py, benchmarks/config.code_block)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from stbench import codeid
from stbench.benchmarks.config import RunSpec, config_hash, load_suite

REPO = Path(__file__).resolve().parents[1]


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin:/usr/local/bin"})


def test_source_state_sees_only_the_code_a_run_executes(tmp_path):
    for rel in ("stbench/a.py", "pruning/p.py", "benchmarks/engine.py", "benchmarks/report_x.py", "docs/x.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "c")
    dirty, clean_hash = codeid.source_state(tmp_path)
    assert dirty is False
    (tmp_path / "docs" / "x.md").write_text("changed\n")                 # not code
    (tmp_path / "benchmarks" / "report_x.py").write_text("x = 2\n")      # reports: not run
    assert codeid.source_state(tmp_path) == (False, clean_hash)
    (tmp_path / "pruning" / "p.py").write_text("x = 2\n")
    dirty, h = codeid.source_state(tmp_path)
    assert dirty is True and h != clean_hash
    (tmp_path / "pruning" / "p.py").write_text("x = 1\n")
    (tmp_path / "pruning" / "new.py").write_text("y = 1\n")              # an untracked module counts
    dirty, h2 = codeid.source_state(tmp_path)
    assert dirty is True and h2 not in (clean_hash, h)


def test_code_in_the_config_only_when_not_neutral(tmp_path, monkeypatch):
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nprofile: smoke\ndatasets: [SYNTHETIC]\nmodels: [stid]\nstrategies: [full]\n"
                     "seeds: [0]\n")
    monkeypatch.setattr(codeid, "suite_code", lambda: codeid.NEUTRAL_VERSION)
    _, [clean] = load_suite(suite)
    assert "code" not in clean.config                                  # committed runs look like this
    monkeypatch.setattr(codeid, "suite_code", lambda: "0.1.0+src.0123456789ab")
    _, [dirty] = load_suite(suite)
    assert dirty.config["code"] == {"stbench": "0.1.0+src.0123456789ab"}
    assert dirty.run_id != clean.run_id                                 # uncommitted code: its own cell
    monkeypatch.setattr(codeid, "suite_code", lambda: "0.2.0")
    _, [bumped] = load_suite(suite)
    assert bumped.run_id not in (clean.run_id, dirty.run_id)            # a new version: new ids


def test_committed_runs_keep_their_ids():
    runs = sorted((REPO / "results" / "budget_cpu" / "runs").iterdir())[:30]
    assert runs
    for d in runs:
        cfg = yaml.safe_load((d / "config.yaml").read_text())
        ident = json.loads((d / "identity.json").read_text())
        assert "code" not in cfg                       # made at the neutral version, clean
        spec = RunSpec(cfg, "", data_identity=ident["data"])
        assert spec.hash == ident["hash"] and d.name in (spec.run_id, spec.legacy_run_id)


def test_mode_version_ignores_a_dirty_checkout(monkeypatch):
    codeid._suite_code.cache_clear()
    monkeypatch.setenv(codeid.ENV, "version")
    from stbench import __version__
    assert codeid.suite_code() == __version__
    monkeypatch.setenv(codeid.ENV, "bogus")
    with pytest.raises(ValueError, match="STBENCH_CODE_IDENTITY='bogus'"):
        codeid.suite_code()
