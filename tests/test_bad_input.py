"""Issue 30's cases outside the suite schema (tests/test_schema.py): damaged and mislabelled
data, reports with incomplete run directories, one exit code for bad input, the full-disk
line, the printed summary's trust marks, ``models info`` and the own-data docs snippet.
Each case failed (or passed silently) on the code before issue 30."""
from __future__ import annotations

import errno
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from stbench import datasets as D
from stbench.benchmarks.cli import main
from stbench.datasets.base import DataError
from stbench.datasets.formats_generic import DataWarning

REPO = Path(__file__).resolve().parents[1]


def wide(specdir, root, text: str, name="W", step=5, graph=None, **files_extra):
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "w.csv").write_bytes(text.encode())
    spec = {"name": name, "format": "wide_table", "folder": name, "split": [0.7, 0.1, 0.2], "citation": "t",
            "time": {"step_minutes": step}, "files": {"series": {"path": "w.csv", **files_extra}},
            "graph": graph or {"kind": "complete"}}
    (specdir / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    return folder / "w.csv"


def rows(n, step=5, nodes=3, start="2024-01-01 00:00"):
    t0 = np.datetime64(start.replace(" ", "T"))
    return "".join(f"{str(t0 + np.timedelta64(i * step, 'm')).replace('T', ' ')[:16]},"
                   + ",".join(f"{50 + i + j}.079" for j in range(nodes)) + "\n" for i in range(n))


HEADER = "time,a,b,c\n"


# ----------------------------------------------------------------------------- readers
def test_a_wide_csv_cut_mid_row_is_an_error(specdir, tmp_path, capsys):
    root = tmp_path / "root"
    whole = HEADER + rows(60)
    path = wide(specdir, root, whole[:-8])                     # cut inside the last value: "53.0"
    with pytest.raises(DataError, match=r"w\.csv: does not end with a newline, so its last row may be cut"):
        D.load_raw("W", root)
    assert main(["data", "check", str(specdir / "W.yaml"), "--data-root", str(root)]) == 2  # passed before
    assert "does not end with a newline" in capsys.readouterr().err
    path.write_text(whole[: whole.rindex(",")] + "\n")         # the last row lost its last field
    with pytest.raises(DataError, match=r"w\.csv: line 61: the last row has 3 of the header's 4 fields"):
        D.load_raw("W", root)
    path.write_text(whole)
    assert D.load_raw("W", root).num_steps == 60
    # the YAML records the size of the file without a final newline: it is whole
    cut = whole[:-1]
    wide(specdir, root, cut, size=len(cut))
    assert D.load_raw("W", root).num_steps == 60


def test_a_cut_tgcn_csv_is_an_error(specdir, tmp_path):
    folder = tmp_path / "root" / "T"
    folder.mkdir(parents=True)
    (folder / "speed.csv").write_text("a,b,c\n" + "".join(f"{i + 1},{i + 2},{i + 3}\n" for i in range(40))[:-3])
    (folder / "adj.csv").write_text("1,0.5,0\n0.5,1,0\n0,0,1\n")
    spec = {"name": "T", "format": "tgcn_csv", "folder": "T", "split": [0.7, 0.1, 0.2], "citation": "t",
            "time": {"start": "2012-03-01 00:00", "step_minutes": 5},
            "files": {"series": {"path": "speed.csv"}, "graph": {"path": "adj.csv"}}}
    (specdir / "T.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(DataError, match=r"speed\.csv: does not end with a newline"):
        D.load_raw("T", tmp_path / "root")


@pytest.mark.parametrize("graph", [{"kind": "complete"}, {"kind": "none"}, {"kind": "edges"}])
def test_a_node_with_no_readings_is_an_error_whatever_the_graph(specdir, tmp_path, graph):
    root = tmp_path / "root"
    text = HEADER + "".join(re.sub(r",[^,]*\n$", ",\n", r) for r in rows(60).splitlines(keepends=True))
    path = wide(specdir, root, text, graph=graph)
    if graph["kind"] == "edges":
        (path.parent / "e.csv").write_text("from,to\na,b\nb,c\n")
        spec = yaml.safe_load((specdir / "W.yaml").read_text())
        spec["files"]["graph"] = {"path": "e.csv"}
        (specdir / "W.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(DataError, match=r"W \(.*w\.csv\): 1 node\(s\) without a single reading: \['c'\]"):
        D.load_raw("W", root)


def test_a_step_that_leaves_every_other_step_empty_warns(specdir, tmp_path, capsys):
    root = tmp_path / "root"
    wide(specdir, root, HEADER + rows(60, step=10), step=5)   # 10-minute data declared as 5-minute
    with pytest.warns(DataWarning, match=r"every row lies on a 10-minute grid, but time\.step_minutes is 5, "
                                         r"so 49\.6 % of the steps are empty .* the step is probably 10 minutes"):
        D.load_raw("W", root)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wide(specdir, root, HEADER + rows(60, step=10), step=10)
        D.load_raw("W", root)                                  # the right step: no warning
    wide(specdir, root, HEADER + rows(60, step=10), step=5)
    assert main(["data", "check", str(specdir / "W.yaml"), "--data-root", str(root)]) == 0
    assert "WARNING  W (" in capsys.readouterr().out


def test_the_own_data_docs_snippet_runs_in_a_fresh_process(tmp_path):
    """docs/own_data.md's Python section: validate_spec registers the readers itself."""
    code = re.findall(r"```python\n(.*?)```", (REPO / "docs" / "own_data.md").read_text(), flags=re.S)[-1]
    assert "validate_spec" in code
    root = tmp_path / "my_data" / "LOS-SENTINEL"
    root.mkdir(parents=True)
    (root / "los_wide.csv").write_text("time,a,b\n" + "".join(
        f"2012-03-01 {i // 12:02d}:{i % 12 * 5:02d},{60 + i % 7},{-1 if i % 13 == 0 else 55 + i % 5}\n"
        for i in range(120)))
    (root / "los_adj.csv").write_text("1,0.5\n0.5,1\n")
    (tmp_path / "my_configs").mkdir()
    doc_yaml = re.search(r"`my_configs/LOS-SENTINEL.yaml`:\n\n```yaml\n(.*?)```",
                         (REPO / "docs" / "own_data.md").read_text(), flags=re.S).group(1)
    (tmp_path / "my_configs" / "LOS-SENTINEL.yaml").write_text(doc_yaml)
    script = f"import sys; sys.path.insert(0, {str(REPO)!r})\n" + code + "\nprint(raw.values.shape)\n"
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("(120, 2)")


# ----------------------------------------------------------------------------- reports
def _finished_store(tmp_path) -> Path:
    """A tiny results directory: full and random at one seed (smoke), run for real."""
    suite = tmp_path / "s.yaml"
    suite.write_text(textwrap.dedent("""
        name: s
        profile: smoke
        datasets: [SYNTHETIC]
        models: [stid]
        strategies: [full, random]
        ratios: [0.5]
        seeds: [0]
        dataset: {max_steps: 300}
        train: {epochs: 1}
    """))
    out = tmp_path / "o"
    assert main(["run", str(suite), "--out", str(out), "--no-report"]) == 0
    return out


def test_report_lists_incomplete_and_corrupt_run_directories(tmp_path, capsys):
    out = _finished_store(tmp_path)
    runs = sorted(p for p in (out / "runs").iterdir() if p.is_dir())
    gone, corrupt = runs
    (gone / "metrics.json").unlink()                           # interrupted, or deleted by hand
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"incomplete run directory {gone}: unfinished: no metrics.json nor failed.json" in text
    index = (out / "report" / "index.md").read_text()
    assert "## Incomplete run directories" in index and f"`{gone.name}`: unfinished" in index

    (corrupt / "metrics.json").write_text('{"test": {"mae": 1.0')  # cut while copying
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{corrupt / 'metrics.json'}: not a readable JSON file" in text
    assert "2 directories under runs/ hold no usable result" in (out / "report" / "index.md").read_text()


def test_the_printed_summary_carries_the_trust_marks_and_the_workload(tmp_path, capsys):
    out = _finished_store(tmp_path)
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    header = next(ln for ln in text.splitlines() if ln.startswith("| dataset"))
    assert "| workload |" in header and "| Wall × |" in header
    tables = (out / "report" / "tables.md").read_text()
    wl = re.search(r"workload ([0-9a-f]{8}-[0-9a-f]{6})\)", tables).group(1)
    assert f"adam {wl}" in text
    # Eff. outside its range carries ‡ in tables.md; the printed summary marks it too
    row = next(ln for ln in text.splitlines() if "| random |" in ln)
    eff = float(row.split("|")[-3].strip().rstrip("‡§†"))
    assert ("‡" in row.split("|")[-3]) == (not 0.8 <= eff <= 1.25)
    assert ("‡" in row) == ("‡" in next(ln for ln in tables.splitlines() if ln.startswith("| random |")))


# ----------------------------------------------------------------------------- exit codes
def test_bad_input_exits_2_everywhere(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing")]) == 2
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "results.csv").write_text("run_id\nx\n")
    assert main(["report", str(tmp_path / "r")]) == 2          # a broken results.csv: a line, no traceback
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["compare", str(tmp_path / "r"), str(tmp_path / "nothing")]) == 2  # no runs/
    bad = tmp_path / "c"
    (bad / "runs" / "x").mkdir(parents=True)
    (bad / "runs" / "x" / "metrics.json").write_text("{")
    assert main(["compare", str(bad), str(bad)]) == 2
    assert f"{bad / 'runs' / 'x' / 'metrics.json'}: unreadable metrics file" in capsys.readouterr().err
    assert main(["data", "info", "NOPE"]) == 2
    assert main(["models", "info", "stid", "--dataset", "NOPE"]) == 2
    assert main(["run", str(tmp_path / "none.yaml")]) == 2


def test_models_info_lists_every_data_set(capsys):
    assert main(["models", "info", "stid", "--dataset", "NOPE"]) == 2
    err = capsys.readouterr().err
    for name in D.dataset_names():
        assert name in err


def test_a_full_disk_ends_with_the_documented_line(tmp_path, capsys, monkeypatch):
    from stbench.benchmarks import store

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(store.ResultsStore, "start", full)     # the first file of the first run
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nprofile: smoke\ndatasets: [SYNTHETIC]\nmodels: [stid]\nstrategies: [full]\n"
                     "seeds: [0]\ndataset: {max_steps: 300}\ntrain: {epochs: 1}\n")
    assert main(["run", str(suite), "--out", str(tmp_path / "o")]) == 1
    captured = capsys.readouterr()
    last = (captured.out + captured.err).strip().splitlines()[-1]
    assert last.startswith("error: no space left on the device while writing ") and "Traceback" not in captured.err
    assert last.endswith("free space and run again")
