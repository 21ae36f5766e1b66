"""The ratio-based study read at equal compute: each pruned run's best validation MAE against
the same seed's full-data run cut at the epoch where it had spent as many sample passes.

    python results/reproduce_cpu/equal_passes.py

Per data set and strategy (GWNet, r = 0.5, seeds 0-2): 100 (best val MAE of the strategy -
best val MAE of full over its first k epochs) / the latter, k = the epochs of full whose
cumulative passes do not exceed the strategy's total; mean and 95 % t interval over seeds.
Positive = the strategy is worse than simply training on full data for as long. This cuts
the long run short (its learning-rate schedule is the long one), which favours the pruner
over the shortened-schedule control of the budget protocol.
"""
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

HERE = Path(__file__).resolve().parent


def curve(run_id: str) -> pd.DataFrame:
    return pd.read_csv(HERE / "runs" / run_id / "curve.csv")


def main() -> None:
    r = pd.read_csv(HERE / "results.csv")
    r = r[(r.status == "finished") & (r.model == "gwnet")]
    print("| data set | strategy | n | strategy vs full cut at equal passes (best val MAE, %) |")
    print("|---|---|---|---|")
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
            d = np.array(diffs)
            half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
            lo, hi = d.mean() - half, d.mean() + half
            verdict = "tie" if lo <= 0 <= hi else ("full better" if lo > 0 else "strategy better")
            print(f"| {ds} | {strat} | {d.size} | {d.mean():+.2f} [{lo:+.2f}, {hi:+.2f}] ({verdict}) |")


if __name__ == "__main__":
    main()
