"""Suite parsing, resolution and every config error case."""
from __future__ import annotations

import textwrap

import pytest

from stbench.benchmarks.config import ConfigError, RunSpec, load_suite, matches, parse_only


def write(tmp_path, text, name="suite.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


BASE = """
name: t
profile: smoke
datasets: [SYNTHETIC]
models: [stid]
strategies: [full, random, {label: sp-noc, name: stprune, params: {use_complexity: false}}]
ratios: [0.3, 0.5]
seeds: [0, 1]
"""


def test_grid_expansion_and_identity(tmp_path):
    suite, specs = load_suite(write(tmp_path, BASE))
    # full has one ratio (0); the others two ratios; two seeds
    assert len(specs) == (1 + 2 + 2) * 2
    ids = [s.run_id for s in specs]
    assert len(set(ids)) == len(ids)
    full = [s for s in specs if s.config["strategy"]["name"] == "full"]
    assert {s.config["strategy"]["ratio"] for s in full} == {0.0}
    s0 = specs[0]
    assert s0.run_id.startswith("SYNTHETIC_stid_full_r0.00_s0_")
    assert s0.run_id.endswith(s0.hash[:8])
    # identity is the hash of the resolved config: same config, same hash
    _, again = load_suite(write(tmp_path, BASE, "again.yaml"))
    assert [s.hash for s in again] == [s.hash for s in specs]
    noc = [s for s in specs if s.config["strategy"]["label"] == "sp-noc"][0]
    assert noc.config["strategy"]["params"]["use_complexity"] is False
    assert noc.config["strategy"]["name"] == "stprune"


def test_precedence_profile_suite_experiment(tmp_path):
    p = write(tmp_path, BASE + """
train: {epochs: 5}
profiles: {smoke: {train: {batch_size: 8}}}
experiments:
  - {name: a}
  - {name: b, strategies: [full], train: {epochs: 7}}
""")
    _, specs = load_suite(p)
    a = [s for s in specs if s.experiment == "a"]
    b = [s for s in specs if s.experiment == "b"]
    assert all(s.config["train"]["epochs"] == 5 and s.config["train"]["batch_size"] == 8 for s in a)
    assert len(b) == 2 and all(s.config["train"]["epochs"] == 7 for s in b)
    # --profile on the CLI wins over the suite's profile
    _, cpu = load_suite(p, profile="cpu")
    assert all(s.config["profile"] == "cpu" for s in cpu)


def test_duplicate_cells_run_once(tmp_path):
    p = write(tmp_path, BASE + """
experiments:
  - {name: a, strategies: [full]}
  - {name: b, strategies: [full]}
""")
    _, specs = load_suite(p)
    assert len(specs) == 2  # two seeds, one full cell each


def test_seeds_override_and_only(tmp_path):
    _, specs = load_suite(write(tmp_path, BASE), seeds=[7])
    assert {s.config["seed"] for s in specs} == {7}
    only = parse_only(["strategy=random,ratio=0.5", "seed=7"])
    sel = [s for s in specs if matches(s, only)]
    assert len(sel) == 1 and sel[0].config["strategy"]["ratio"] == 0.5
    alt = parse_only(["strategy=random|full"])
    assert len([s for s in specs if matches(s, alt)]) == 3


@pytest.mark.parametrize("extra, needle", [
    ("bogus: 1\n", "unknown key 'bogus'"),
    ("train: {epochs: ten}\n", "train.epochs: expected int"),
    ("train: {learning_rate: 0.1}\n", "unknown key 'learning_rate'"),
    ("dataset: {max_steps: 1.5}\n", "dataset.max_steps"),
    ("profiles: {huge: {}}\n", "unknown profile 'huge'"),
    ("model_params: {stid: {nope: 3}}\n", "unknown parameter 'nope'"),
    ("train: {optimizer: lion}\n", "optimizer 'lion' unknown"),
])
def test_config_errors_name_key(tmp_path, extra, needle):
    p = write(tmp_path, BASE + extra)
    with pytest.raises(ConfigError) as e:
        load_suite(p)
    assert needle in str(e.value)
    assert str(p) in str(e.value)


@pytest.mark.parametrize("replace, needle", [
    (("datasets: [SYNTHETIC]", "datasets: [NOPE]"), "unknown data set 'NOPE'; valid choices:"),
    (("models: [stid]", "models: [transformerx]"), "unknown model 'transformerx'; valid choices:"),
    (("strategies: [full,", "strategies: [magic,"), "unknown strategy 'magic'; valid choices:"),
    (("ratios: [0.3, 0.5]", "ratios: [1.5]"), "prune ratio must be in [0, 1)"),
    (("seeds: [0, 1]", "seeds: [zero]"), "seeds must be integers"),
    (("{use_complexity: false}", "{not_a_param: 1}"), "unknown parameter 'not_a_param'"),
    (("models: [stid]", "models: []"), "missing or empty 'models'"),
    (("profile: smoke", "profile: fast"), "profile 'fast' unknown"),
])
def test_config_errors_names_and_values(tmp_path, replace, needle):
    p = write(tmp_path, BASE.replace(*replace))
    with pytest.raises(ConfigError) as e:
        load_suite(p)
    assert needle in str(e.value)


def test_bad_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_suite(tmp_path / "none.yaml")
    p = write(tmp_path, "name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_suite(p)
    p = write(tmp_path, "- a\n- b\n", "list.yaml")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_suite(p)


def test_only_errors():
    with pytest.raises(ConfigError, match="unknown key 'colour'"):
        parse_only(["colour=red"])
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_only(["dataset"])


def test_shipped_suites_validate():
    from stbench.benchmarks.config import CONFIGS
    suites = [CONFIGS / "quick.yaml"] + sorted((CONFIGS / "suites").glob("*.yaml"))
    suites += [p for p in (CONFIGS / "reproduce_cpu.yaml",) if p.exists()]
    for path in suites:
        for prof in ("smoke", "cpu", "paper"):
            _, specs = load_suite(path, profile=prof)
            assert specs and all(isinstance(s, RunSpec) for s in specs)
