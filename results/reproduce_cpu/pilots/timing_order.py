"""Timing diagnostic (FINDINGS.md, "Pruning efficiency"): AQI36 GWNet seed 0 as full,
stprune, full again, infobatch, full again, one after another; prints the ms per sample
pass of each. By default all five run in ONE process; with --isolate each runs in a fresh
process (the launcher's ``isolate`` mode).

    python results/reproduce_cpu/pilots/timing_order.py [DATA_ROOT] [--isolate]   # from the repo root, ~5 min
"""
import csv, shutil, sys
from pathlib import Path
from benchmarks.config import load_suite
from benchmarks.launchers import _pool_cell, run_pool
from benchmarks.runner import execute
from benchmarks.store import ResultsStore

ORDER = ["full", "stprune", "full", "infobatch", "full"]
OUTS = [Path(f"/tmp/order/{i}_{lab}") for i, lab in enumerate(ORDER)]

def show(i, _result=None, error=None):
    if error is not None:
        print(i, ORDER[i], "failed:", error, flush=True)
        return
    d = next(p for p in (OUTS[i] / "runs").iterdir() if p.is_dir())
    r = list(csv.DictReader(open(d / "curve.csv")))
    t = sum(float(x["train_seconds"]) for x in r); n = sum(float(x["sample_passes"]) for x in r)
    print(i, ORDER[i], f"{1000*t/n:.3f} ms/pass", f"epoch0 {1000*float(r[0]['train_seconds'])/float(r[0]['sample_passes']):.3f}", flush=True)


if __name__ == "__main__":  # spawned workers re-import this file: everything below runs once
    isolate = "--isolate" in sys.argv
    args = [a for a in sys.argv[1:] if a != "--isolate"]
    root = args[0] if args else "../shared/data"
    suite, specs = load_suite(Path("configs/reproduce_cpu.yaml"))
    pick = {}
    for s in specs:
        c = s.config
        if c["dataset"]["name"] == "AQI36" and c["model"]["name"] == "gwnet" and c["seed"] == 0 and c["strategy"]["ratio"] in (0.0, 0.5):
            pick.setdefault(c["strategy"]["label"], s)
    shutil.rmtree("/tmp/order", ignore_errors=True)  # a finished cell would be skipped
    if isolate:  # in order: one fresh worker process per cell
        run_pool(_pool_cell, [(pick[lab], str(out), root) for lab, out in zip(ORDER, OUTS)], [None], show, fresh=True)
    else:
        for i, lab in enumerate(ORDER):
            execute(pick[lab], ResultsStore(OUTS[i]), data_root=root)
            show(i)
