"""Timing diagnostic (FINDINGS.md, "Pruning efficiency"): in ONE process, AQI36 GWNet seed 0
as full, stprune, full again, infobatch, full again; prints the ms per sample pass of each.

    python results/reproduce_cpu/pilots/timing_order.py [DATA_ROOT]   # from the repo root, ~5 min
"""
import csv, shutil, sys
from pathlib import Path
from benchmarks.config import load_suite
from benchmarks.runner import execute
from benchmarks.store import ResultsStore
suite, specs = load_suite(Path("configs/reproduce_cpu.yaml"))
pick = {}
for s in specs:
    c = s.config
    if c["dataset"]["name"] == "AQI36" and c["model"]["name"] == "gwnet" and c["seed"] == 0 and c["strategy"]["ratio"] in (0.0, 0.5):
        pick.setdefault(c["strategy"]["label"], s)
order = ["full", "stprune", "full", "infobatch", "full"]
shutil.rmtree("/tmp/order", ignore_errors=True)  # a finished cell would be skipped
for i, lab in enumerate(order):
    out = Path(f"/tmp/order/{i}_{lab}")
    execute(pick[lab], ResultsStore(out), data_root=sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    d = next(p for p in (out / "runs").iterdir() if p.is_dir())
    r = list(csv.DictReader(open(d / "curve.csv")))
    t = sum(float(x["train_seconds"]) for x in r); n = sum(float(x["sample_passes"]) for x in r)
    print(i, lab, f"{1000*t/n:.3f} ms/pass", f"epoch0 {1000*float(r[0]['train_seconds'])/float(r[0]['sample_passes']):.3f}", flush=True)
