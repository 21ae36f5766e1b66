"""Issue 26, report side (benchmarks/report_attribution.py): tuning trials chosen on
validation, never on test (e); the selection / plan / total decomposition against a hand
computation; nothing written for results without controls or trials."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from stbench.benchmarks import report_attribution as ra
from stbench.benchmarks import stats

KEY = ("dataset", "model", "profile")


def runs(rows):
    """Finished runs: (label, budget or None, seed, val_mae_best, test mae, steps, passes)."""
    df = pd.DataFrame(rows, columns=["strategy", "budget", "seed", "val_mae_best", "mae", "steps", "sample_passes"])
    df["dataset"], df["model"], df["profile"] = "SYNTHETIC", "stid", "smoke"
    df["ratio"] = 0.0
    df["budget"] = df["budget"].astype(float)
    return df


def grid():
    """full@1, the control full@1/4, stprune-b and stprune-b~random at 1/4, two trials each.

    stprune-b: trial lrx2 has the better validation MAE (1.0 < 1.1) but the worse test MAE
    (3.3 > 3.0): selecting on test would pick the untuned trial."""
    rows = []
    for s in range(3):
        d = 0.01 * s
        rows += [("full", None, s, 1.0 + d, 3.0 + d, 100, 1000), ("full@lrx2", None, s, 1.2 + d, 2.9 + d, 100, 1000),
                 ("full", 0.25, s, 1.5 + d, 3.6 + d, 25, 250), ("full@lrx2", 0.25, s, 1.6 + d, 3.4 + d, 25, 250),
                 ("stprune-b", 0.25, s, 1.1 + d, 3.0 + d, 25, 250),
                 ("stprune-b@lrx2", 0.25, s, 1.0 + d, 3.3 + 2 * d, 25, 250),
                 ("stprune-b~random", 0.25, s, 1.3 + d, 3.45 + d, 25, 250),
                 ("stprune-b~random@lrx2", 0.25, s, 1.4 + d, 3.2 + d, 25, 250)]
    return runs(rows)


def test_trials_are_chosen_on_validation_never_on_test():
    frame = ra.settings_frame(grid(), KEY)
    trials = ra.trial_table(frame, KEY)
    chosen = {(r.setting, r.b): r.trial for r in trials[trials["chosen"]].itertuples()}
    assert chosen == {("full", 1.0): "", ("full", 0.25): "", ("stprune-b", 0.25): "lrx2",
                      ("stprune-b~random", 0.25): ""}
    sp = trials[trials["setting"] == "stprune-b"].set_index("trial")
    # the test split would have picked the other trial: the choice is not made on test
    assert sp.loc["lrx2", "test"] > sp.loc["", "test"] and sp.loc["lrx2", "val"] < sp.loc["", "val"]
    picked = ra.chosen_runs(frame, trials, KEY)
    sel = picked[picked["setting"] == "stprune-b"]
    assert sel["trial"].unique().tolist() == ["lrx2"]
    assert sel["mae"].mean() == pytest.approx(3.3 + 0.02)          # the chosen trial's test result
    text = ra.render_attribution_md(SimpleNamespace(finished=grid(), table_key=KEY))
    line = next(l for l in text.splitlines() if l.startswith("| stprune-b | 0.25 (4x) | lrx2 |") and "chosen" in l)
    assert "3.3200" in line


def test_decomposition_against_a_hand_computation():
    frame = ra.settings_frame(grid(), KEY)
    picked = ra.chosen_runs(frame, ra.trial_table(frame, KEY), KEY)
    eff = {e.kind: e.verdict for e in ra.decompose(picked, KEY)}
    ref = {s: 3.0 + 0.01 * s for s in range(3)}                     # full@1, untuned (chosen)
    sel = {s: 3.3 + 0.02 * s for s in range(3)}                     # stprune-b@lrx2
    rnd = {s: 3.45 + 0.01 * s for s in range(3)}                    # stprune-b~random, untuned
    ctl = {s: 3.6 + 0.01 * s for s in range(3)}                     # full at 1/4, untuned
    want = {"selection": [100 * (sel[s] - rnd[s]) / ref[s] for s in range(3)],
            "plan": [100 * (rnd[s] - ctl[s]) / ref[s] for s in range(3)],
            "total": [100 * (sel[s] - ctl[s]) / ref[s] for s in range(3)]}
    for kind, diffs in want.items():
        iv = stats.mean_interval(diffs)
        assert eff[kind].interval.mean == pytest.approx(iv.mean)
        assert (eff[kind].interval.lo, eff[kind].interval.hi) == pytest.approx((iv.lo, iv.hi))
    assert eff["total"].interval.mean == pytest.approx(eff["selection"].interval.mean + eff["plan"].interval.mean)
    assert eff["selection"].word == stats.BETTER and eff["plan"].word == stats.BETTER


def test_nothing_is_written_without_controls_or_trials(tmp_path):
    plain = grid()
    plain = plain[~plain["strategy"].str.contains("@|~", regex=True)]
    data = SimpleNamespace(finished=plain, table_key=KEY)
    assert ra.render_all(data) == {} and ra.write_figures(data, tmp_path) == []
    full = SimpleNamespace(finished=grid(), table_key=KEY)
    assert set(ra.render_all(full)) == {"attribution.md"}
    paths = ra.write_figures(full, tmp_path)
    assert [p.name for p in paths] == ["attribution.png"] and paths[0].stat().st_size > 1000


def test_grid_tta_by_hand():
    g = pd.DataFrame({"passes": [10, 20, 30, 40], "train_seconds": [1.0, 2.5, 3.0, 4.5],
                      "val_mae": [3.0, 2.0, 1.5, 1.4], "epoch": [0, 0, 1, 1]})
    assert ra.grid_tta(g, 2.0) == ra.GridTTA(20.0, 2.5, 0.0)
    assert ra.grid_tta(g, 1.45) == ra.GridTTA(40.0, 4.5, 1.0)
    assert ra.grid_tta(g, 1.0).passes == float("inf") and ra.grid_tta(None, 2.0).seconds == float("inf")


def test_the_tuned_view_keeps_each_settings_validation_choice_under_its_own_label():
    raw = grid()
    raw["status"] = "finished"
    view = ra.tuned_runs(raw)
    got = sorted({(r.strategy, str(r.budget)) for r in view.itertuples()})
    assert got == [("full", "0.25"), ("full", "nan"), ("stprune-b", "0.25"), ("stprune-b~random", "0.25")]
    sp = view[view["strategy"] == "stprune-b"]
    assert sp["mae"].mean() == pytest.approx(3.32) and len(sp) == 3    # the lrx2 runs (chosen on validation)
    plain = raw[~raw["strategy"].str.contains("@")]
    assert ra.tuned_runs(plain) is plain                              # without trials: unchanged


def test_effects_carry_adjusted_p_and_the_untuned_table_beside_the_tuned_one():
    """Every effect gets a p-value adjusted (Holm) over the family of the tables it is shown
    in; with tuning trials attribution.md also shows the decomposition at lr x 1."""
    data = SimpleNamespace(finished=grid(), table_key=KEY,
                           rules=SimpleNamespace(margin_pct=1.0, adjust="holm", level=0.95))
    chosen, untuned = ra.effects_of(data)
    assert len(chosen) == len(untuned) == 3
    raw = [e.verdict.p for e in chosen]
    assert [e.p_adj for e in chosen] == pytest.approx(list(stats.adjust_pvalues(raw, "holm")))
    assert all(e.p_adj >= e.verdict.p for e in chosen)
    # the untuned selection effect is computed on the lr x 1 runs only: stprune-b 3.0 vs ~random 3.45
    sel = next(e for e in untuned if e.kind == "selection")
    assert sel.verdict.interval.mean == pytest.approx(100 * (3.0 - 3.45) / 3.01, rel=1e-2)
    text = ra.render_attribution_md(data)
    assert "### Selection / plan / total, untuned (every setting at lr x 1)" in text
    assert "Holm over the 3 effects" in text and "adj. p" in text


def test_the_tuned_table_says_where_tuning_was_unequal():
    """With tuning trials every tuned effect row names the trials of selector / random /
    control and marks them unequal where they differ (that row then measures tuning too)."""
    equal = SimpleNamespace(finished=grid(), table_key=KEY)
    row = next(l for l in ra.render_attribution_md(equal).split("### Selection / plan / total, untuned")[0]
               .splitlines() if l.startswith("| stprune-b | 0.25 (4x) | ") and "adj. p" in l)
    assert row.endswith("| 2 / 2 / 2 |")
    lopsided = grid()
    lopsided = lopsided[lopsided["strategy"] != "stprune-b~random@lrx2"]   # the random ran one trial
    text = ra.render_attribution_md(SimpleNamespace(finished=lopsided, table_key=KEY))
    tuned = text.split("### Selection / plan / total, untuned")[0]
    row = next(l for l in tuned.splitlines() if l.startswith("| stprune-b | 0.25 (4x) | ") and "adj. p" in l)
    assert row.endswith("| 2 / 1 / 2 unequal |")
    assert "| trials |" in tuned and "Trials: the tuning trials run" in text
    plain = grid()
    plain = plain[~plain["strategy"].str.contains("@")]                     # no trials: no column
    text = ra.render_attribution_md(SimpleNamespace(finished=plain, table_key=KEY))
    assert "| trials |" not in text and "Trials:" not in text


def test_the_trial_table_is_shown_only_for_a_workload_that_ran_trials():
    """A report with one tuned workload and one without trials: the untuned workload gets
    no "Tuning trials" table (each of its settings ran lr x 1 only)."""
    tuned = grid()
    plain = grid()
    plain = plain[~plain["strategy"].str.contains("@")].assign(dataset="OTHER")
    text = ra.render_attribution_md(SimpleNamespace(finished=pd.concat([tuned, plain]), table_key=KEY))
    other = text.split("## OTHER")[1].split("\n## ")[0]
    synthetic = text.split("## SYNTHETIC")[1].split("\n## ")[0]
    assert "### Tuning trials" in synthetic and "### Tuning trials" not in other
    assert "### Chosen settings" in other


def test_variants_are_compared_with_the_setting_they_vary_at_lr_x1():
    """``P-...`` against P (the longest such label at the same budget), on the untuned runs,
    paired by seed in % of full@1, with a Holm p over the variants' own family."""
    assert ra.parent_of("stprune-b-pool-unbiased", {"stprune-b", "stprune-b-pool", "full"}) == "stprune-b-pool"
    assert ra.parent_of("stprune-b-pool-unbiased", {"stprune-b", "full"}) == "stprune-b"
    assert ra.parent_of("stprune-b~random", {"stprune-b"}) is None and ra.parent_of("full", {"full"}) is None
    assert ra.parent_of("rs2", {"random", "rs2"}) is None
    rows = [(lab, 0.25, s, 1.0, mae + 0.01 * s, 25, 250) for s in range(3)
            for lab, mae in (("stprune-b", 3.0), ("stprune-b-no-loss", 3.3), ("stprune-b@lrx2", 2.0))]
    rows += [("full", None, s, 1.0, 2.5, 100, 1000) for s in range(3)]
    data = SimpleNamespace(finished=runs(rows), table_key=KEY,
                           rules=SimpleNamespace(margin_pct=1.0, adjust="holm", level=0.95))
    (e,) = ra.variants_of(data)
    assert (e.selector, e.against, e.kind) == ("stprune-b-no-loss", "stprune-b", "variant")
    # lr x 1 runs only (the lrx2 trial of the parent is not the comparison): +0.3 / 2.5 = +12 %
    assert e.verdict.interval.mean == pytest.approx(12.0) and e.verdict.word == stats.WORSE
    text = ra.render_attribution_md(data)
    assert "### Variants against their parent (lr x 1)" in text
    assert "| stprune-b-no-loss | stprune-b | 0.25 (4x) | +12.00" in text
