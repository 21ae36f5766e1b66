"""The verdict instrument (benchmarks/stats.py) against direct computations: one hand-made
set of paired differences per verdict class, the t-test p-value, Holm and Benjamini-Hochberg
against their definitions and scipy, and the reading of a verdict after the adjustment."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sstats

from stbench.benchmarks import stats

MARGIN = 1.0


def _direct_interval(d, level=0.95):
    d = np.asarray(d, dtype=float)
    half = sstats.t.ppf(0.5 + level / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    return d.mean() - half, d.mean() + half


#: per verdict class: paired differences (in % of full@1's MAE) and why they fall there
CASES = {
    stats.BETTER: [-1.2, -0.9, -1.0, -1.1],          # the whole interval below 0
    stats.WORSE: [2.0, 2.4, 1.8],                     # the whole interval above 0
    stats.EQUIVALENT: [0.1, -0.1, 0.05, -0.02, 0.0],  # inside [-1, +1], containing 0
    stats.UNRESOLVED: [0.5, -0.4, 0.6],               # contains 0, wider than the margin
    stats.UNDERPOWERED: [-3.0, -3.1],                 # 2 seeds < MIN_SEEDS
}


@pytest.mark.parametrize("word", list(CASES))
def test_each_verdict_class_from_hand_made_differences(word):
    d = CASES[word]
    v = stats.verdict(d, MARGIN)
    lo, hi = _direct_interval(d)
    assert v.word == word and v.margin == MARGIN
    assert (v.interval.lo, v.interval.hi) == (pytest.approx(lo), pytest.approx(hi))
    assert v.p == pytest.approx(sstats.ttest_1samp(d, 0.0).pvalue)
    # the direct rule, written out once more
    direct = (stats.UNDERPOWERED if len(d) < stats.MIN_SEEDS else stats.BETTER if hi < 0 else stats.WORSE
              if lo > 0 else stats.EQUIVALENT if -MARGIN <= lo and hi <= MARGIN else stats.UNRESOLVED)
    assert direct == word
    assert v.counted == (word != stats.UNDERPOWERED)


def test_interval_and_test_are_dual_and_edge_cases():
    for d in CASES.values():
        if len(d) >= 3:
            v = stats.verdict(d, MARGIN)
            assert (v.p < 0.05) == (v.word in (stats.BETTER, stats.WORSE))
    assert math.isnan(stats.t_pvalue([1.0]))
    assert stats.t_pvalue([0.0, 0.0, 0.0]) == 1.0 and stats.t_pvalue([0.5, 0.5, 0.5]) == 0.0
    assert stats.verdict([0.3]).word == stats.UNDERPOWERED
    # a wider margin turns the unresolved case into an equivalent one
    assert stats.verdict(CASES[stats.UNRESOLVED], margin=5.0).word == stats.EQUIVALENT


P = [0.001, 0.04, 0.03, 0.2, 0.012, float("nan"), 0.5, 0.0004]


def test_holm_against_its_definition():
    ok = [p for p in P if math.isfinite(p)]
    m = len(ok)
    order = np.argsort(ok)
    direct = np.empty(m)
    running = 0.0
    for i, j in enumerate(order):  # i-th smallest times (m - i), running max, capped at 1
        running = max(running, min(1.0, (m - i) * ok[j]))
        direct[j] = running
    got = stats.adjust_pvalues(P, "holm")
    assert math.isnan(got[5])
    assert list(got[np.isfinite(got)]) == pytest.approx(list(direct))
    assert stats.adjust_pvalues(P) == pytest.approx(got, nan_ok=True)   # Holm is the default


def test_bh_against_scipy_and_its_definition():
    ok = np.array([p for p in P if math.isfinite(p)])
    m = ok.size
    order = np.argsort(ok)
    ranked = ok[order] * m / np.arange(1, m + 1)
    step_up = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    direct = np.empty(m)
    direct[order] = step_up
    got = stats.adjust_pvalues(P, "bh")
    assert list(got[np.isfinite(got)]) == pytest.approx(list(direct))
    assert list(got[np.isfinite(got)]) == pytest.approx(list(sstats.false_discovery_control(ok, method="bh")))
    with pytest.raises(ValueError, match="unknown p-value adjustment 'bonferroni'; valid choices: bh, holm"):
        stats.adjust_pvalues(P, "bonferroni")
    assert np.isnan(stats.adjust_pvalues([float("nan")])).all()


def test_reading_after_the_adjustment_and_text():
    better = stats.verdict(CASES[stats.BETTER], MARGIN)
    assert stats.survives(better, 0.01) and stats.final_word(better, 0.01) == stats.BETTER
    # not surviving: its interval [-1.2.., -0.8..] is not inside the margin of 1 -> not resolved
    assert better.interval.lo < -MARGIN
    assert stats.final_word(better, 0.2) == stats.UNRESOLVED
    # ... with a margin of 2 it would be equivalent
    assert stats.final_word(stats.verdict(CASES[stats.BETTER], 2.0), 0.2) == stats.EQUIVALENT
    eq = stats.verdict(CASES[stats.EQUIVALENT], MARGIN)
    assert stats.final_word(eq, 1.0) == stats.EQUIVALENT and not stats.survives(eq, 0.0)
    text = stats.fmt_verdict(better, 0.2)
    iv = better.interval
    assert text == f"{iv.mean:+.2f} [{iv.lo:+.2f}, {iv.hi:+.2f}] better n.s. (adj. p 0.200)"
    assert stats.fmt_verdict(better, 0.0004).endswith("better (adj. p <0.001)")
    assert stats.fmt_verdict(stats.verdict([0.7])) == "+0.70 (n=1) underpowered"
    assert stats.fmt_verdict(stats.verdict(CASES[stats.UNDERPOWERED])).endswith("underpowered (n=2)")
    assert stats.half_width(eq.interval) == pytest.approx((eq.interval.hi - eq.interval.lo) / 2)
    assert math.isinf(stats.half_width(stats.verdict([1.0]).interval))
