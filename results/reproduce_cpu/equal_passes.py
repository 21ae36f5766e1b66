"""The ratio-based study read at equal compute: each pruned run's best validation MAE against
the same seed's full-data run cut at the epoch where it had spent as many sample passes.

    python results/reproduce_cpu/equal_passes.py

Per data set and strategy (GWNet, r = 0.5, seeds 0-2): 100 (best val MAE of the strategy -
best val MAE of full over its first k epochs) / the latter, k = the epochs of full whose
cumulative passes do not exceed the strategy's total; mean and 95 % t interval over seeds.
Positive = the strategy is worse than simply training on full data for as long. This cuts
the long run short (its learning-rate schedule is the long one), which favours the pruner
over the shortened-schedule control of the budget protocol. Verdicts: the suite's
(stbench.benchmarks.stats.verdict, margin 1 % of full's MAE), p-values adjusted by Holm over
the 8 comparisons of the table; "n.s." = a better / worse that does not survive it.
"""
from pathlib import Path

import numpy as np
import pandas as pd

from stbench.benchmarks import stats

HERE = Path(__file__).resolve().parent


def curve(run_id: str) -> pd.DataFrame:
    return pd.read_csv(HERE / "runs" / run_id / "curve.csv")


def main() -> None:
    r = pd.read_csv(HERE / "results.csv")
    r = r[(r.status == "finished") & (r.model == "gwnet")]
    rows = []
    for ds in sorted(r.dataset.unique()):
        for strat in ("infobatch", "stprune"):
            diffs = []
            for seed in (0, 1, 2):
                f = r[(r.dataset == ds) & (r.strategy == "full") & (r.seed == seed)]
                s = r[(r.dataset == ds) & (r.strategy == strat) & (r.ratio == 0.5) & (r.seed == seed)]
                if f.empty or s.empty:
                    continue
                fc, sc = curve(f.run_id.iloc[0]), curve(s.run_id.iloc[0])
                k = int(np.searchsorted(fc.sample_passes.cumsum().to_numpy(), sc.sample_passes.sum(), side="right"))
                full_best = fc.val_mae.iloc[:max(k, 1)].min()
                diffs.append(100 * (sc.val_mae.min() - full_best) / full_best)
            rows.append((ds, strat, len(diffs), stats.verdict(diffs, stats.DEFAULT_MARGIN_PCT)))
    p_adj = stats.adjust_pvalues([v.p for *_, v in rows], "holm")
    print("| data set | strategy | n | strategy vs full cut at equal passes (best val MAE, %) |")
    print("|---|---|---|---|")
    for (ds, strat, n, v), p in zip(rows, p_adj):
        print(f"| {ds} | {strat} | {n} | {stats.fmt_verdict(v, p)} |")

if __name__ == "__main__":
    main()
