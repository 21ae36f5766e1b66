"""Report generator: speedup maths, aggregation, tables (md/tex/csv), figures, determinism.

The fixture grid: 2 data sets x 2 models x (full + random/infobatch/stprune at ratios
0.3 and 0.5) x seeds 0-2, plus one failed run, with a curve.csv per finished run.
Per (data set, model) with scale k (dsA: 1, dsB: 5) and seed s:

    full:    train_seconds = 100 + 10 s, sample_passes = 1000, steps = 100, mae = k (3 + 0.01 s)
    pruned:  train_seconds = train_full(s) (1 - r) OVERHEAD[strategy] + 2 s
             sample_passes = 1000 (1 - r KEPT_SCALE[strategy]), steps = passes / 10
             mae = mae_full(s) + k MAE_OFFSET[(strategy, r)]
"""
from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stbench.benchmarks.report import (
    METRIC_COLUMNS, REQUIRED_COLUMNS, build_report_data, load_results, ordered_strategies, write_report,
)
from stbench.benchmarks.report_figures import DPI, EXTRA_COLOURS, STRATEGY_COLOURS, WIDTH, pareto_front, strategy_colour
from stbench.benchmarks.report_tables import TABLE_COLUMNS, inrun_efficiency, tail_gain_pct, tail_trend_pct

DATASETS = {"dsA": 1.0, "dsB": 5.0}
MODELS = ("m1", "m2")
SEEDS = (0, 1, 2)
RATIOS = (0.3, 0.5)
OVERHEAD = {"random": 1.0, "infobatch": 1.1, "stprune": 1.2}
KEPT_SCALE = {"random": 1.0, "infobatch": 0.8, "stprune": 1.0}
MAE_OFFSET = {("random", 0.3): 0.10, ("random", 0.5): 0.20, ("infobatch", 0.3): 0.02,
              ("infobatch", 0.5): 0.05, ("stprune", 0.3): -0.05, ("stprune", 0.5): 0.01}
EPOCHS = 10


def _run_row(dataset, model, strategy, ratio, seed, *, pruner=None, status="finished", error=""):
    k = DATASETS.get(dataset, 1.0)
    train_full = 100.0 + 10.0 * seed
    mae_full = k * (3.0 + 0.01 * seed)
    if strategy == "full":
        train, passes, mae = train_full, 1000.0, mae_full
    else:
        base = strategy.split("-")[0]
        train = train_full * (1 - ratio) * OVERHEAD.get(base, 1.0) + 2.0 * seed
        passes = 1000.0 * (1 - ratio * KEPT_SCALE.get(base, 1.0))
        mae = mae_full + k * MAE_OFFSET.get((base, ratio), 0.0)
    row = {"run_id": f"{dataset}-{model}-{strategy}-{ratio:g}-s{seed}-abc123", "dataset": dataset,
           "model": model, "strategy": strategy, "pruner": pruner or strategy, "ratio": ratio, "seed": seed,
           "profile": "cpu", "status": status, "error": error, "params": 1234}
    metrics = {"mae": mae, "rmse": 2 * mae, "mape": mae / 50}
    for h, f in ((3, 0.8), (6, 1.0), (12, 1.3)):
        metrics.update({f"mae@{h}": f * mae, f"rmse@{h}": 2 * f * mae, f"mape@{h}": f * mae / 50})
    row.update(metrics)
    row.update({"val_mae_best": mae * 0.95, "best_epoch": EPOCHS - 1, "epochs": EPOCHS, "train_seconds": train,
                "eval_seconds": 5.0, "pruner_seconds": 0.5 if strategy != "full" else 0.0,
                "total_seconds": train + 5.5, "sample_passes": passes, "full_sample_passes": 1000.0,
                "steps": passes / 10, "kept_fraction": passes / 1000.0})
    return row


def _curve(row) -> pd.DataFrame:
    e = np.arange(EPOCHS)
    per_epoch = row["train_seconds"] / EPOCHS
    return pd.DataFrame({
        "epoch": e, "wall_seconds": per_epoch * (e + 1), "train_seconds": per_epoch, "eval_seconds": 0.5,
        "pruner_seconds": 0.05, "train_loss": 5.0 / (e + 1), "val_mae": row["mae"] * (1 + 1.0 / (e + 1)),
        "kept_fraction": row["kept_fraction"], "sample_passes": row["sample_passes"] / EPOCHS,
        "steps": row["steps"] / EPOCHS, "lr": 1e-3})


def grid_rows(datasets=DATASETS, models=MODELS, ratios=RATIOS, seeds=SEEDS):
    rows = []
    for d in datasets:
        for m in models:
            rows += [_run_row(d, m, "full", 0.0, s) for s in seeds]
            rows += [_run_row(d, m, st, r, s) for st in OVERHEAD for r in ratios for s in seeds]
    return rows


FAILED = _run_row("dsA", "m1", "infobatch", 0.5, 3, status="failed",
                  error="loss diverged (nan) at epoch 3 | step 17")
FAILED.update({c: np.nan for c in METRIC_COLUMNS})
FAILED.update({"train_seconds": 1.0, "sample_passes": 5.0, "steps": 1.0, "mae": 999.0})  # partial; must be ignored
FAILED_OOM = _run_row("dsA", "m1", "random", 0.3, 4, status="failed", error="out of memory")
FAILED_OOM.update({c: np.nan for c in METRIC_COLUMNS})


def write_results(root: Path, rows, curves: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)[list(REQUIRED_COLUMNS)]
    df.to_csv(root / "results.csv", index=False)
    if curves:
        for row in rows:
            if row["status"] == "finished":
                d = root / "runs" / row["run_id"]
                d.mkdir(parents=True, exist_ok=True)
                _curve(row).to_csv(d / "curve.csv", index=False)
    return root


@pytest.fixture(scope="module")
def grid_dir(tmp_path_factory) -> Path:
    return write_results(tmp_path_factory.mktemp("grid"), [FAILED_OOM] + grid_rows() + [FAILED])


@pytest.fixture(scope="module")
def report(grid_dir):
    return write_report(grid_dir)


def _md_section(text: str, title: str) -> list:
    """Rows (lists of cells) of the Markdown table under heading ``## title``."""
    body = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in body.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split(" | ")]
    return [dict(zip(header, (c.strip() for c in ln[2:-2].split(" | ")))) for ln in lines[2:]]


# ----------------------------------------------------------------------------- maths
def test_speedups_match_hand_computed_values(grid_dir):
    data = build_report_data(grid_dir)
    runs = data.finished.set_index("run_id")
    r = runs.loc["dsA-m1-infobatch-0.3-s1-abc123"]
    # full seed 1: train 110, passes 1000, steps 100, mae 3.01
    # infobatch 0.3 seed 1: train 110*0.7*1.1 + 2 = 86.7, passes 1000*(1-0.24) = 760, steps 76, mae 3.03
    assert r["reference"] == "seed"
    assert r["wall_speedup"] == pytest.approx(110 / 86.7)
    assert r["pass_speedup"] == pytest.approx(1000 / 760)
    assert r["passes_saved"] == pytest.approx(0.24)
    assert r["step_speedup"] == pytest.approx(100 / 76)
    assert r["efficiency"] == pytest.approx((110 / 86.7) / (1000 / 760))
    assert r["dmae_pct"] == pytest.approx(100 * (3.03 / 3.01 - 1))
    full = runs.loc["dsB-m2-full-0-s2-abc123"]
    assert full["wall_speedup"] == 1.0 and full["dmae_pct"] == 0.0


def test_mean_and_std_over_seeds(grid_dir):
    data = build_report_data(grid_dir)
    s = data.summary.set_index(["dataset", "model", "strategy", "ratio"])
    g = s.loc[("dsA", "m1", "infobatch", 0.3)]
    walls = [100 / 77.0, 110 / 86.7, 120 / 96.4]  # train: 100*.77, 110*.77+2, 120*.77+4
    assert g["n"] == 3 and g["seeds"] == "0 1 2"
    assert g["wall_speedup_mean"] == pytest.approx(np.mean(walls))
    assert g["wall_speedup_std"] == pytest.approx(np.std(walls, ddof=1))
    maes = [3.02, 3.03, 3.04]
    assert g["mae_mean"] == pytest.approx(3.03)
    assert g["mae_std"] == pytest.approx(np.std(maes, ddof=1))
    assert g["mape_mean"] == pytest.approx(3.03 / 50)
    assert g["mae@12_mean"] == pytest.approx(1.3 * 3.03)
    # dsB scales errors by 5 but not timings
    assert s.loc[("dsB", "m2", "stprune", 0.3)]["mae_mean"] == pytest.approx(5 * (3.01 - 0.05))


def test_failed_runs_excluded_and_listed(grid_dir, report):
    data = build_report_data(grid_dir)
    assert list(data.failed["run_id"]) == [FAILED_OOM["run_id"], FAILED["run_id"]]  # random before infobatch
    assert len(data.finished) == 4 * 21
    g = data.summary.set_index(["dataset", "model", "strategy", "ratio"]).loc[("dsA", "m1", "infobatch", 0.5)]
    assert g["n"] == 3 and g["n_failed"] == 1 and g["seeds"] == "0 1 2"
    assert g["mae_mean"] == pytest.approx(3.01 + 0.05)
    assert g["train_seconds_mean"] == pytest.approx(np.mean([55.0, 60.5 + 2, 66.0 + 4]))
    for name in ("tables.md", "index.md"):
        text = report[name].read_text(encoding="utf-8")
        failed = text.split("## Failed runs", 1)[1]
        assert FAILED["run_id"] in failed
        assert "loss diverged (nan) at epoch 3 \\| step 17" in failed  # pipe escaped in Markdown
    index = report["index.md"].read_text(encoding="utf-8")
    assert "86 run(s): 84 finished (used), 2 failed" in index
    rows = _md_section(report["tables.md"].read_text(encoding="utf-8"), "dsA · m1 (profile cpu)")
    row = next(r for r in rows if r["Strategy"] == "infobatch" and r["Ratio"] == "0.5")
    assert row["n"] == "3 (1 failed)"
    assert row["MAE avg"] == f"3.060 ± {np.std([3.05, 3.06, 3.07], ddof=1):.3f}"


def test_missing_full_run_blank_speedups_and_seed_fallback(tmp_path):
    rows = [r for r in grid_rows(datasets={"dsA": 1.0}) if not (r["model"] == "m2" and r["strategy"] == "full")]
    rows = [r for r in rows if not (r["model"] == "m1" and r["strategy"] == "full" and r["seed"] == 2)]
    out = write_report(write_results(tmp_path / "res", rows), figures=False)
    data = build_report_data(tmp_path / "res")
    s = data.summary.set_index(["dataset", "model", "strategy", "ratio"])
    # m2 has no full run: everything relative is NaN and blank, with a note
    m2 = s.loc[("dsA", "m2", "random", 0.5)]
    assert m2["reference"] == "none" and np.isnan(m2["wall_speedup_mean"]) and np.isnan(m2["dmae_pct_mean"])
    md = out["tables.md"].read_text(encoding="utf-8")
    m2_text = md.split("## dsA · m2", 1)[1].split("\n## ", 1)[0]
    assert "No finished full-data run" in m2_text
    for row in _md_section(md, "dsA · m2 (profile cpu)"):
        assert row["Wall ×"] == row["Pass ×"] == row["Eff."] == row["dMAE (%)"] == ""
        assert row["MAE avg"] != ""
    assert "No finished full-data run for dsA / m2" in out["index.md"].read_text(encoding="utf-8")
    # m1 seed 2 has no full run: relative to the mean of full seeds 0 and 1 (train 105, mae 3.005)
    run = data.finished.set_index("run_id").loc["dsA-m1-stprune-0.5-s2-abc123"]
    assert run["reference"] == "mean"
    assert run["wall_speedup"] == pytest.approx(105 / (120 * 0.5 * 1.2 + 4))
    assert run["dmae_pct"] == pytest.approx(100 * ((3.02 + 0.01) / 3.005 - 1))
    row = next(r for r in _md_section(md, "dsA · m1 (profile cpu)") if r["Strategy"] == "stprune"
               and r["Ratio"] == "0.5")
    assert row["Wall ×"].endswith("†")
    assert s.loc[("dsA", "m1", "full", 0.0)]["n"] == 2


# ----------------------------------------------------------------------------- tables
def test_bold_marks_the_lowest_mean_per_error_column(report):
    md = report["tables.md"].read_text(encoding="utf-8")
    error_cols = [c.md for c in TABLE_COLUMNS if c.best]
    for d in DATASETS:
        for m in MODELS:
            rows = _md_section(md, f"{d} · {m} (profile cpu)")
            assert [r["Strategy"] for r in rows][:3] == ["full", "random", "random"]
            for col in error_cols:
                bold = [(r["Strategy"], r["Ratio"]) for r in rows if r[col].startswith("**")]
                assert bold == [("stprune", "0.3")], (d, m, col, bold)
            # non-error columns are never bold
            assert not any(r["Wall ×"].startswith("**") for r in rows)
    tex = report["tables.tex"].read_text(encoding="utf-8")
    assert tex.count(r"\textbf{") == 4 * len(error_cols)


def test_strategy_order_full_fixed_others_alphabetical_ablations_after_parent():
    rows = [_run_row("dsA", "m1", s, 0.3, 0, pruner=p) for s, p in
            [("zeta", "zeta"), ("stprune-no-complexity", "stprune"), ("aaa", "aaa"), ("stprune", "stprune"),
             ("infobatch", "infobatch"), ("static", "static"), ("random", "random")]]
    rows.append(_run_row("dsA", "m1", "full", 0.0, 0, pruner="none"))
    order = ordered_strategies(pd.DataFrame(rows))
    assert order == ["full", "random", "static", "infobatch", "stprune", "stprune-no-complexity", "aaa", "zeta"]


def test_tables_byte_identical_on_rerun_and_after_shuffling(grid_dir, tmp_path):
    first = write_report(grid_dir, tmp_path / "a", figures=False)
    second = write_report(grid_dir, tmp_path / "b", figures=False)
    shuffled_dir = tmp_path / "shuffled"
    shuffled_dir.mkdir()
    df = pd.read_csv(grid_dir / "results.csv", dtype=str, keep_default_na=False)
    df = df.sample(frac=1.0, random_state=7)[list(reversed(df.columns))]
    df.to_csv(shuffled_dir / "results.csv", index=False)
    shutil.copytree(grid_dir / "runs", shuffled_dir / "runs")  # the curves (convergence.md)
    third = write_report(shuffled_dir, tmp_path / "c", figures=False)
    names = ["tables.md", "tables.tex", "summary.csv", "summary.md", "convergence.md", "efficiency.md", "index.md",
             "budget.md", "budget.tex", "tta.md", "profile.md"]
    assert sorted(first) == sorted(names)
    for name in names:
        a = first[name].read_bytes()
        assert a == second[name].read_bytes() == third[name].read_bytes(), name
    text = first["tables.md"].read_text(encoding="utf-8") + first["index.md"].read_text(encoding="utf-8")
    assert str(tmp_path) not in text and re.search(r"20\d\d-\d\d-\d\d", text) is None


def test_summary_csv_and_md(report):
    s = pd.read_csv(report["summary.csv"])
    assert len(s) == 4 * 7
    assert {"dataset", "model", "profile", "strategy", "ratio", "n", "mae_mean", "mae_std",
            "wall_speedup_mean", "passes_saved_mean", "dmae_pct_mean"} <= set(s.columns)
    assert list(s["strategy"][:7]) == ["full", "random", "random", "infobatch", "infobatch", "stprune", "stprune"]
    rows = _md_section("## S\n" + report["summary.md"].read_text(encoding="utf-8"), "S")
    assert len(rows) == 28
    r = next(r for r in rows if r["dataset"] == "dsA" and r["model"] == "m1" and r["strategy"] == "random"
             and r["ratio"] == "0.5")
    # random 0.5: train 50, 57, 64 against 100, 110, 120; passes 500 against 1000
    wall = np.mean([100 / 50, 110 / 57, 120 / 64])
    assert r["Wall ×"] == f"{wall:.2f}" and r["Pass ×"] == "2.00" and r["Eff."] == f"{wall / 2:.2f}"
    assert r["MAE avg"] == "3.210" and r["MAPE avg (%)"] == f"{3.21 / 50 * 100:.2f}"
    assert r["dMAE (%)"] == f"{np.mean([100 * (x + .2) / x - 100 for x in (3.0, 3.01, 3.02)]):+.2f}"


def _strip_escaped(tex: str) -> str:
    return tex.replace("\\\\", "  ").replace(r"\{", "").replace(r"\}", "").replace(r"\&", "").replace(r"\%", "")


def test_latex_is_syntactically_sound(report):
    tex = report["tables.tex"].read_text(encoding="utf-8")
    body = "\n".join(ln for ln in tex.splitlines() if not ln.startswith("%"))
    plain = _strip_escaped(body)
    depth = 0
    for ch in plain:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    envs = re.findall(r"\\(begin|end)\{(\w+)\}", body)
    stack = []
    for kind, env in envs:
        if kind == "begin":
            stack.append(env)
        else:
            assert stack.pop() == env
    assert not stack
    assert body.count(r"\begin{table}") == 4
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert body.count(rule) >= 4
    ncols = 3 + len(TABLE_COLUMNS)
    for table in body.split(r"\begin{tabular}")[1:]:
        rows = table.split(r"\end{tabular}")[0].split("\\toprule", 1)[1]
        for line in _strip_escaped(rows).splitlines():
            if line.rstrip().endswith("  ") and "multicolumn" not in line:  # a row ending in \\
                assert line.count("&") == ncols - 1, line
    assert r"\label{tab:dsa-m1-cpu}" in body and "$\\pm$" in body


# ----------------------------------------------------------------------------- figures
FIGURE_NAMES = ("kept_fraction", "mae_vs_ratio", "pareto", "val_curve")


def test_figures_exist_as_png_and_pdf(report):
    for name in FIGURE_NAMES:
        for d in DATASETS:
            for m in MODELS:
                stem = f"figures/{name}_{d.lower()}_{m}_cpu"
                png, pdf = report[f"{stem}.png"], report[f"{stem}.pdf"]
                assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
                width = struct.unpack(">I", png.read_bytes()[16:20])[0]
                assert width == round(WIDTH * DPI)  # one column (3.5 in) at the figure dpi
                assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 2000
    index = report["index.md"].read_text(encoding="utf-8")
    assert "figures/pareto_dsa_m1_cpu.pdf" in index
    # the fixture has no budget runs: only the budget figure is skipped, once
    assert "## Figures skipped\n\n- budget_accuracy for all workloads: no budget runs in this results directory\n\n" \
        in index


def test_figures_skipped_with_reason_and_reproducible(tmp_path):
    rows = grid_rows(datasets={"dsA": 1.0}, models=("m1",), ratios=(0.5,), seeds=(0, 1))
    res = write_results(tmp_path / "res", rows, curves=False)
    out = write_report(res)
    index = out["index.md"].read_text(encoding="utf-8")
    assert "- mae_vs_ratio for dsA / m1 / cpu: fewer than two prune ratios" in index
    assert "- val_curve for dsA / m1 / cpu: no curve.csv" in index
    assert "- kept_fraction for dsA / m1 / cpu: no curve.csv" in index
    assert "have no readable runs/RUN_ID/curve.csv" in index
    assert not any("mae_vs_ratio" in k or "val_curve" in k for k in out)
    stale = res / "report" / "figures" / "mae_vs_ratio_old_panel.png"
    stale.write_bytes(b"stale")
    first = {k: p.read_bytes() for k, p in out.items()}
    assert "figures/pareto_dsa_m1_cpu.png" in first
    again = write_report(res)
    assert {k: p.read_bytes() for k, p in again.items()} == first
    assert not stale.exists()


def test_pareto_front_and_colours():
    # points: (1, 3.0) full, (1.5, 2.9), (2, 3.1), (1.2, 3.2)
    assert pareto_front([1.0, 1.5, 2.0, 1.2], [3.0, 2.9, 3.1, 3.2]) == [1, 2]
    assert len(set(STRATEGY_COLOURS.values())) == len(STRATEGY_COLOURS)
    assert strategy_colour("stprune") == STRATEGY_COLOURS["stprune"]
    c = strategy_colour("stprune-no-complexity")
    assert c in EXTRA_COLOURS and c == strategy_colour("stprune-no-complexity")
    assert len({strategy_colour(f"ablation-{i}") for i in range(40)}) > 3


# ----------------------------------------------------------------------------- input errors
def test_bad_results_file_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.csv"):
        load_results(tmp_path)
    df = pd.DataFrame(grid_rows(datasets={"dsA": 1.0}, models=("m1",), seeds=(0,)))
    df.drop(columns=["steps"]).to_csv(tmp_path / "results.csv", index=False)
    with pytest.raises(ValueError, match="missing columns \\['steps'\\]"):
        load_results(tmp_path)
    df = df[list(REQUIRED_COLUMNS)].astype(object)
    df.loc[1, "mae"] = "three"
    df.to_csv(tmp_path / "results.csv", index=False)
    with pytest.raises(ValueError, match="column 'mae' of run 'dsA-m1-random-0.3-s0-abc123' holds 'three'"):
        load_results(tmp_path)


def test_tail_gain_and_convergence_table(report):
    # 10 epochs: the tail is the last 2; reference is the best of epochs 0-7
    assert tail_gain_pct([5, 4, 3, 2, 2, 2, 2, 2.0, 1.5, 1.9]) == pytest.approx(25.0)
    assert tail_gain_pct([1.0, 1.1, 1.2]) == pytest.approx(100 * (1.0 - 1.2) / 1.0)  # worse: negative
    # a spike just before the tail is not a reference: the tail never beat epoch 1
    assert tail_gain_pct([2, 1, 1, 1, 1, 1, 1, 1.5, 1.2, 1.1]) == pytest.approx(-10.0)
    assert np.isnan(tail_gain_pct([1.0]))
    # trend: mean of epochs 8-9 (1.7) against mean of epochs 6-7 (2.0); one dip cannot set it
    assert tail_trend_pct([5, 4, 3, 2, 2, 2, 2, 2.0, 1.5, 1.9]) == pytest.approx(15.0)
    assert tail_trend_pct([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.0, 0.8]) == pytest.approx(100 * (1.1 - 0.9) / 1.1)
    assert tail_trend_pct([1.0, 0.9, 0.8]) == pytest.approx(100 * (0.9 - 0.8) / 0.9)  # k = 1
    assert np.isnan(tail_trend_pct([1.0])) and np.isnan(tail_trend_pct([1.0, 1.0], tail=0.9))  # no window before
    # the fixture curves are mae * (1 + 1/(e+1)) over EPOCHS epochs
    k = int(np.ceil(0.2 * EPOCHS))
    ref, last = 1 + 1 / (EPOCHS - k), 1 + 1 / EPOCHS
    expected = 100 * (ref - last) / ref
    rows = _md_section(report["convergence.md"].read_text(encoding="utf-8"), "dsA · m1 (profile cpu)")
    full = next(r for r in rows if r["Strategy"] == "full")
    assert full["Epochs"] == str(EPOCHS) and full["n"] == "3"
    assert full["Max (%)"] == f"{expected:+.2f}"
    assert full["Flat"] == ("yes" if expected < 1.0 else "no")
    curve = [1 + 1 / (e + 1) for e in range(EPOCHS)]  # the same relative trend for every seed
    assert full["Tail trend (%)"] == f"{tail_trend_pct(curve):+.2f} ± 0.00"


def test_inrun_efficiency_and_table(report):
    # epochs 0 and 3 full (100 passes, 1 s = 10 ms/pass); epochs 1-2 pruned (50 passes, 0.6 s = 12 ms/pass)
    curve = pd.DataFrame({"train_seconds": [1.0, 0.6, 0.6, 1.0], "sample_passes": [100, 50, 50, 100],
                          "kept_fraction": [1.0, 0.5, 0.5, 1.0]})
    c_full, c_pruned, eff = inrun_efficiency(curve)
    assert (c_full, c_pruned) == (pytest.approx(10.0), pytest.approx(12.0))
    assert eff == pytest.approx(10.0 / 12.0)
    assert np.isnan(inrun_efficiency(curve.assign(kept_fraction=0.5))[2])  # no full-data epoch
    assert np.isnan(inrun_efficiency(curve.drop(columns="kept_fraction"))[0])
    assert all(np.isnan(inrun_efficiency(None)))
    # the fixture's pruned runs keep a constant fraction < 1: across-run eff. only, in-run '-'
    rows = _md_section(report["efficiency.md"].read_text(encoding="utf-8"), "dsA · m1 (profile cpu)")
    assert rows and all(r["Strategy"] != "full" for r in rows)
    summary = report["summary.csv"]
    s = pd.read_csv(summary)
    ref = s[(s.dataset == "dsA") & (s.model == "m1") & (s.strategy == rows[0]["Strategy"])
            & (s.ratio == float(rows[0]["Ratio"]))].iloc[0]
    assert rows[0]["Eff."].split(" ")[0] == f"{ref['efficiency_mean']:.2f}"
    assert rows[0]["In-run eff."] == "-" and rows[0]["ms/pass pruned epochs"] != "-"
