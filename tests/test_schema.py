"""The suite schema (benchmarks/schema.py): every case of issue 30's "Why" that concerns a
suite, each failing on the code before it, and the suite's own configs validating cleanly."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from stbench.benchmarks.cli import main
from stbench.benchmarks.config import ConfigError, load_suite
from stbench.benchmarks.runner import run_suite

REPO = Path(__file__).resolve().parents[1]

BASE = """
name: t
profile: smoke
datasets: [SYNTHETIC]
models: [stid]
strategies: [full, random, stprune]
ratios: [0.5]
seeds: [0]
train: {epochs: 2}
"""


def write(tmp_path, text, name="suite.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def problems(tmp_path, text, **kw) -> str:
    with pytest.raises(ConfigError) as e:
        load_suite(write(tmp_path, text), **kw)
    return str(e.value)


# ----------------------------------------------------------------------------- silent before
@pytest.mark.parametrize("extra, path, needle", [
    # a typo in a strategy_params key of a strategy in the grid ran with the default lam
    ("strategy_params: {stprun: {lam: 0.9}}\n", "strategy_params.stprun", "did you mean 'stprune'?"),
    # model_params for a model that is not in the grid was accepted
    ("model_params: {gwnet: {dropout: 0.1}}\n", "model_params.gwnet", "names no model of this suite"),
    # budgets: [] gave "0 runs ... finished 0", exit 0
    ("budgets: []\n", "budgets", "empty list"),
    # milestones past the schedule were accepted and never applied
    ("train: {epochs: 2, milestones: [5]}\n", "train.milestones", "not inside the schedule of 2 epoch"),
    # unsorted milestones trained the same schedule under another id
    ("train: {epochs: 4, milestones: [2, 1]}\n", "train.milestones", "strictly increasing"),
])
def test_silent_suite_values_are_errors(tmp_path, extra, path, needle):
    text = BASE.replace("train: {epochs: 2}\n", "") if extra.startswith("train") else BASE
    if extra.startswith("budgets"):
        text = text.replace("ratios: [0.5]\n", "")
    msg = problems(tmp_path, text + extra)
    assert f"suite.yaml.{path}: " in msg and needle in msg


def test_empty_ratios_are_an_error_not_a_smaller_grid(tmp_path):
    msg = problems(tmp_path, BASE.replace("ratios: [0.5]", "ratios: []"))
    assert "suite.yaml.ratios: empty list" in msg and "drop out of the grid" in msg


def test_ratios_beside_budgets_are_an_error(tmp_path):
    msg = problems(tmp_path, BASE.replace("ratios: [0.5]", "ratios: [0.3]\nbudgets: [0.5]"))
    assert "suite.yaml.ratios: 'ratios' beside 'budgets'" in msg
    # an experiment block that uses the suite's ratios makes them used
    ok = BASE.replace("ratios: [0.5]", "ratios: [0.3]") + textwrap.dedent("""
        experiments:
          - {name: r, strategies: [full, random]}
          - {name: b, strategies: [full, random], budgets: [0.5]}
    """)
    load_suite(write(tmp_path, ok, "ok.yaml"))


@pytest.mark.parametrize("entry, needle", [
    ("{name: random, ratio: 0.3, budget: 0.5}", "give a prune ratio or a compute budget, not both"),
    ("{name: full, ratio: 0.5}", "'full' trains on all the data (prune ratio 0), got 0.5"),
    ("{name: random, budgets: []}", "strategies[1].budgets: empty list"),
])
def test_strategy_values_the_grid_would_not_use(tmp_path, entry, needle):
    msg = problems(tmp_path, BASE.replace("strategies: [full, random, stprune]", f"strategies: [full, {entry}]"))
    assert needle in msg and "suite.yaml.strategies[1]" in msg


def test_the_run_id_is_that_of_the_normalised_config(tmp_path):
    a = load_suite(write(tmp_path, BASE.replace("train: {epochs: 2}", "train: {epochs: 4, milestones: [1, 2]}")))[1]
    with pytest.raises(ConfigError, match=r"milestones must be strictly increasing .*write \[1, 2\]"):
        load_suite(write(tmp_path, BASE.replace("train: {epochs: 2}", "train: {epochs: 4, milestones: [2, 1]}"), "b.yaml"))
    assert len({s.run_id for s in a}) == len(a)


def test_suite_name_is_a_file_name_component(tmp_path):
    text = BASE.replace("name: t", "name: ../../escape")
    msg = problems(tmp_path, text)
    assert "suite.yaml.name: suite name '../../escape' is not a valid file-name component" in msg
    with pytest.raises(ConfigError):  # the dry run targeted a directory outside results/
        run_suite(write(tmp_path, text, "d.yaml"), dry_run=True, quiet=True)
    msg = problems(tmp_path, BASE.replace("[full, random, stprune]", "[full, {label: a/b, name: random}]"))
    assert "strategies[1].label: label 'a/b' is not a valid file-name component" in msg
    assert "out: expected a directory name" in problems(tmp_path, BASE + "out: ../x\n")


# ----------------------------------------------------------------------------- unclear before
def test_every_problem_at_once_with_its_yaml_path(tmp_path):
    text = BASE + textwrap.dedent("""
        experiments:
          - {name: a, strategies: [full]}
          - name: b
            strategies: [full, {name: stprune, params: {lam: high}}, {name: random, params: {mode: dinamic}},
                         {name: infobatch, params: {anneal: 1.5}}]
        dataset: {split: [0.7, 0.2, 0.2]}
        bogus_key: 1
        treain: {}
    """)
    msg = problems(tmp_path, text)
    lines = msg.splitlines()
    assert re.match(r".*suite\.yaml: \d+ problems \(nothing was run\):$", lines[0])
    body = "\n".join(lines[1:])
    for needle in ("suite.yaml.experiments[1].strategies[1].params.lam: stprune's lam must be a number in "
                   "[0.0, 1.0], got 'high'",
                   "suite.yaml.experiments[1].strategies[2].params.mode: random's mode must be one of dynamic, "
                   "static, got 'dinamic'",
                   "suite.yaml.experiments[1].strategies[3].params.anneal: infobatch's anneal must be a number in "
                   "(0.0, 1.0], got 1.5",
                   "suite.yaml.dataset.split: the three parts must sum to 1",
                   "unknown key 'bogus_key'", "unknown key 'treain'", "did you mean 'train'?"):
        assert needle in body, needle
    assert "configs/pruners" not in body  # the suite is blamed, not the strategy's own YAML


def test_wrong_types_from_strategy_params_are_found_before_any_run(tmp_path):
    msg = problems(tmp_path, BASE + "strategy_params: {stprune: {lam: high}}\n")
    assert "suite.yaml.strategy_params.stprune.lam: stprune's lam must be a number" in msg
    # budgeted: "yes" said "no budget"
    msg = problems(tmp_path, BASE + "strategy_params: {stprune: {budgeted: 'yes'}}\n")
    assert "strategy_params.stprune.budgeted: stprune's budgeted must be true or false, got 'yes'" in msg
    assert "no budget" not in msg


def test_model_params_checked_against_the_class(tmp_path):
    msg = problems(tmp_path, BASE + "model_params: {stid: {embed_dim: big, dropout: 0.1}}\n")
    assert "suite.yaml.model_params.stid.embed_dim: stid's embed_dim must be an integer, got 'big'" in msg
    msg = problems(tmp_path, BASE + "model_params: {stid: {input_dim: 7}}\n")
    assert "model_params.stid.input_dim: stid: input_dim must be in 1..3, got 7" in msg


@pytest.mark.parametrize("train, needle", [
    ("{epochs: 2, device: gpu0}", "train.device: 'gpu0' is not a torch device; expected cpu, cuda or cuda:N"),
])
def test_device_checked_before_the_grid(tmp_path, train, needle):
    assert needle in problems(tmp_path, BASE.replace("train: {epochs: 2}", f"train: {train}"))


def test_cuda_on_a_cpu_build_stops_the_run_not_the_dry_run(tmp_path, capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    p = write(tmp_path, BASE.replace("train: {epochs: 2}", "train: {epochs: 2, device: cuda}"))
    with pytest.raises(ConfigError, match=r"suite\.yaml\.train\.device: 'cuda' is not available here"):
        run_suite(p, out=tmp_path / "o", quiet=True)
    assert not (tmp_path / "o").exists()  # before any run
    res = run_suite(p, out=tmp_path / "o", dry_run=True)
    assert res["runs"] == 3 and "note: " in capsys.readouterr().out
    run_suite(p, out=tmp_path / "o", dry_run=True, launcher="submitit")  # the jobs run elsewhere


def test_windows_that_do_not_fit_are_found_before_any_run(tmp_path):
    msg = problems(tmp_path, BASE + "dataset: {max_steps: 20}\n")
    assert "suite.yaml.dataset.max_steps: dataset.max_steps = 20 is shorter than one window" in msg
    msg = problems(tmp_path, BASE + "dataset: {max_steps: 25}\n")
    assert "every part needs at least one" in msg


def test_cli_seeds_are_blamed_on_the_flag(tmp_path, capsys):
    p = write(tmp_path, BASE)
    assert main(["run", str(p), "--seeds", "-1", "--dry-run", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --seeds: seeds must be integers >= 0, got -1") and "suite.yaml" not in err


# ----------------------------------------------------------------------------- --out
@pytest.mark.parametrize("make, needle", [
    (lambda t: t / "afile" / "out", "afile is a file, so no directory can be made under it"),
    (lambda t: Path("/proc/stbench-out"), "under /proc, a virtual file system"),
    (lambda t: t / "afile", "is a file; expected a results directory"),
])
def test_out_problems_are_one_line(tmp_path, capsys, make, needle):
    (tmp_path / "afile").write_text("x")
    p = write(tmp_path, BASE)
    assert main(["run", str(p), "--dry-run", "--out", str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and err.startswith("error: --out ")


def test_out_on_a_read_only_directory(tmp_path, capsys, monkeypatch):
    from stbench.benchmarks import store
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(store.os, "access", lambda path, mode: Path(path) != ro)  # root may write anywhere
    assert main(["run", str(write(tmp_path, BASE)), "--dry-run", "--out", str(ro / "new" / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{ro} (the nearest existing directory of" in err and "not writable" in err and err.count("\n") == 1
    assert main(["run", str(write(tmp_path, BASE)), "--dry-run", "--out", str(tmp_path / "a" / "b")]) == 0


# ----------------------------------------------------------------------------- the suite's own configs
SUITES = sorted(str(p.relative_to(REPO)) for p in list((REPO / "configs").glob("*.yaml"))
                + list((REPO / "configs" / "suites").glob("*.yaml")))


def test_the_budget_record_notes_its_merged_milestones(tmp_path, capsys, monkeypatch):
    """budget_cpu's 9 control entries whose milestones cannot stay apart (E = 12, [1, 5, 8] at 1/4
    and 1/6) validate under the documented merge rule, and the dry run names each in a note."""
    monkeypatch.chdir(REPO)
    rc = main(["run", "configs/budget_cpu.yaml", "--dry-run", "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    notes = [ln for ln in out.splitlines() if "they are merged at" in ln]
    assert sum("BEIJING-AQ / stid" in ln for ln in notes) == 8 and sum("AQI36 / gwnet" in ln for ln in notes) == 1


@pytest.mark.parametrize("suite", SUITES)
def test_every_shipped_suite_validates_cleanly(suite, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)  # missing data files are listed by the dry run, not an error
    rc = main(["run", suite, "--dry-run", "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert re.search(r"^\d+ runs \(", out, re.M) and err == ""


def test_the_dry_run_prints_the_native_budget_rule(tmp_path, capsys):
    p = write(tmp_path, BASE.replace("ratios: [0.5]", "budgets: [0.5]").replace("stprune", "infobatch"))
    run_suite(p, out=tmp_path / "o", dry_run=True)
    out = capsys.readouterr().out
    assert re.search(r"^note: .*suite\.yaml\.strategies\[2\]: infobatch cannot target a budget in its published "
                     r"form: it runs once at its own prune ratio 0\.5", out, re.M)


def test_a_new_top_level_key_is_one_entry(tmp_path, monkeypatch):
    from stbench.benchmarks import config as C
    from stbench.benchmarks import schema

    text = BASE + "sweep: {lr_mult: [0.5, 1, x]}\n"
    assert "unknown key 'sweep'" in problems(tmp_path, text)
    monkeypatch.setattr(C, "SUITE_KEYS", C.SUITE_KEYS + ("sweep",))

    def check(value, path, P):
        for i, m in enumerate(value.get("lr_mult", [])):
            if not isinstance(m, (int, float)):
                P.add(f"{path}.lr_mult[{i}]", f"expected a number, got {m!r}")
    monkeypatch.setitem(schema.SECTION_CHECKS, "sweep", check)
    assert "suite.yaml.sweep.lr_mult[2]: expected a number, got 'x'" in problems(tmp_path, text)


def test_did_you_mean_for_every_unknown_name(tmp_path):
    msg = problems(tmp_path, BASE.replace("[SYNTHETIC]", "[SYNTHETC]").replace("models: [stid]", "models: [stdi]")
                   .replace("[full, random, stprune]", "[full, {name: stprune, params: {lamb: 0.2}}, randon]")
                   + "launcher: {partiton: x}\n")
    for needle in ("datasets: unknown data set 'SYNTHETC'", "did you mean 'SYNTHETIC'?", "did you mean 'stid'?",
                   "strategies[1].params: unknown parameter 'lamb'", "did you mean 'lam'?",
                   "strategies[2]: unknown strategy 'randon'", "did you mean 'random'?",
                   "launcher: unknown key 'partiton'", "did you mean 'partition'?"):
        assert needle in msg, needle
    msg = problems(tmp_path, BASE + "model_params: {stid: {embeddim: 3}}\n")
    assert "model_params.stid: unknown parameter 'embeddim'" in msg and "did you mean 'embed_dim'?" in msg
