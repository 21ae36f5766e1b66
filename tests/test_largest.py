"""LargeST readers on small files in the exact published layouts (datasets/formats_largest.py).

The raw fixture is 30 sensors of five PeMS districts (SD 11: 8, GBA 4: 10, GLA 7/8/12:
5/4/3) over three days of 5-minute flow, written with ``DataFrame.to_hdf`` (columns = the
sensor IDs as strings, in another order than the meta), a ca_meta.csv with real-looking
IDs and a shuffled ID2, and a 30 x 30 ca_rn_adj.npy. Expected values come from LargeST's
own pandas steps (resample('15min').mean().round(0).fillna(0), then the meta's IDs).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from stbench import datasets as D
from stbench.datasets.base import DataError

pytest.importorskip("tables")

REPO = Path(__file__).resolve().parents[1]
DISTRICTS = {11: 8, 4: 10, 7: 5, 8: 4, 12: 3}
SUBSETS = {"SD": [11], "GBA": [4], "GLA": [7, 8, 12], "CA": None}
DAYS = 3


def build_raw(folder: Path, seed: int = 0, days: int = DAYS) -> dict:
    """ca_his_raw_2019.h5, ca_meta.csv and ca_rn_adj.npy of LargeST's Kaggle release, small."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    dist = np.concatenate([[d] * k for d, k in DISTRICTS.items()])
    rng.shuffle(dist)
    n = dist.size
    ids = [str(400000 + 1000 * int(d) + i) for i, d in enumerate(dist)]
    id2 = rng.permutation(n)
    meta = pd.DataFrame({"ID": [int(i) for i in ids], "Lat": rng.uniform(32, 38, n).round(6),
                         "Lng": rng.uniform(-122, -117, n).round(6), "District": dist,
                         "County": "Somewhere", "Fwy": "I-5", "Lanes": rng.integers(1, 6, n),
                         "Type": "Mainline", "Direction": rng.choice(list("NSEW"), n), "ID2": id2})
    meta.to_csv(folder / "ca_meta.csv", index=False)
    adj = rng.uniform(0, 1, (n, n)).astype(np.float32) * (rng.uniform(size=(n, n)) < 0.3)
    np.fill_diagonal(adj, 1.0)
    np.save(folder / "ca_rn_adj.npy", adj)
    T = days * 288
    idx = pd.date_range("2019-01-01", periods=T, freq="5min")
    flow = rng.integers(0, 400, size=(T, n)).astype(np.float64)
    flow[rng.uniform(size=flow.shape) < 0.05] = np.nan        # scattered gaps
    flow[30:36, 3] = np.nan                                    # two whole 15-min bins empty
    order = rng.permutation(n)                                 # columns not in meta order
    df = pd.DataFrame(flow[:, order], index=idx, columns=[ids[j] for j in order])
    df.to_hdf(folder / "ca_his_raw_2019.h5", key="t", mode="w")
    return {"meta": meta, "adj": adj, "df": df, "ids": ids}


def largest_reference(raw: dict, districts) -> tuple[np.ndarray, np.ndarray, list]:
    """LargeST's notebooks, step by step: resample, round, fill 0, select IDs / ID2."""
    his = raw["df"].resample("15min").mean().round(0).fillna(0)
    meta = raw["meta"] if districts is None else raw["meta"][raw["meta"].District.isin(districts)]
    meta = meta.reset_index(drop=True)
    sel = meta.ID.astype(str).tolist()
    adj = raw["adj"][meta.ID2.values][:, meta.ID2.values]
    return his[sel].to_numpy(np.float32), adj, sel


@pytest.fixture
def largest(tmp_path, monkeypatch):
    """A data root with the raw fixture and test YAMLs overriding the shipped ones
    (same content but ``nodes`` of the fixture and ``year: null`` / its step count)."""
    root = tmp_path / "data"
    raw = build_raw(root / "LARGEST" / "ca")
    specs = tmp_path / "specs"
    specs.mkdir()
    for sub, dist in SUBSETS.items():
        spec = yaml.safe_load((REPO / "configs" / "datasets" / f"LARGEST-{sub}.yaml").read_text())
        n = sum(DISTRICTS[d] for d in (dist or DISTRICTS))
        spec["options"].update(nodes=n, year=None)
        spec["time"]["steps"] = DAYS * 96
        (specs / f"LARGEST-{sub}.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("STBENCH_DATASET_CONFIGS", str(specs))
    return root, raw, specs


@pytest.mark.parametrize("sub", list(SUBSETS))
def test_each_subset_reads_like_largest(largest, sub):
    root, raw, _ = largest
    r = D.load_raw(f"LARGEST-{sub}", root)
    want, adj, ids = largest_reference(raw, SUBSETS[sub])
    n = sum(DISTRICTS[d] for d in (SUBSETS[sub] or DISTRICTS))
    assert r.num_nodes == n == len(ids) and r.node_ids == ids
    assert r.num_steps == DAYS * 96 and r.step_minutes == 15.0
    assert r.timestamps[0] == np.datetime64("2019-01-01T00:00", "ns")
    np.testing.assert_array_equal(r.values, want)              # resample + round + fill, by ID
    np.testing.assert_array_equal(r.adj, adj)                  # A[ID2][:, ID2]
    assert r.null_value == 0 and r.extra["districts"] == sorted(SUBSETS[sub] or DISTRICTS)


def test_empty_bins_are_null_and_masked(largest):
    root, raw, _ = largest
    r = D.load_raw("LARGEST-CA", root)
    col = r.node_ids.index(raw["ids"][3])
    assert (r.values[10:12, col] == 0).all() and not r.valid_mask()[10:12, col].any()
    assert r.extra["empty_bins"] >= 2


def test_calendar_year_axis_and_fill_option(largest, tmp_path):
    """The shipped options (year 2019, 15 min): 35,040 bins; fill_missing null keeps NaN."""
    root, raw, specs = largest
    spec = yaml.safe_load((specs / "LARGEST-SD.yaml").read_text())
    spec["options"].update(year=2019, fill_missing=None)
    spec["time"]["steps"] = 35040
    (specs / "LARGEST-SD.yaml").write_text(yaml.safe_dump(spec))
    r = D.load_raw("LARGEST-SD", root)
    assert r.num_steps == 35040 and r.timestamps[-1] == np.datetime64("2019-12-31T23:45", "ns")
    want, _, _ = largest_reference(raw, [11])
    got = r.values[: DAYS * 96]
    np.testing.assert_array_equal(np.where(np.isnan(got), 0, got), want)
    assert np.isnan(r.values[DAYS * 96:]).all() and not r.valid_mask()[DAYS * 96:].any()


def test_split_is_largest_six_two_two(largest):
    root, _, _ = largest
    data = D.load_windowed("LARGEST-GLA", root)
    n = DAYS * 96 - 23
    assert [data.num_windows(s) for s in ("train", "val", "test")] == \
        [round(n * 0.6), round(n * 0.2), n - round(n * 0.6) - round(n * 0.2)]


# ----------------------------------------------------------------------------- processed layout

def largest_generate(his: pd.DataFrame, out: Path) -> None:
    """LargeST's data/generate_data_for_training.py (12 in / 12 out, tod + dow), own code."""
    out.mkdir(parents=True, exist_ok=True)
    T, N = his.shape
    tod = (his.index.values - his.index.values.astype("datetime64[D]")) / np.timedelta64(1, "D")
    data = np.stack([his.to_numpy(np.float64), np.repeat(tod[:, None], N, 1),
                     np.repeat((his.index.day_of_week.to_numpy() / 7)[:, None], N, 1)], -1)
    idx = np.arange(11, T - 12)
    n_tr, n_va = round(len(idx) * 0.6), round(len(idx) * 0.2)
    tr, va, te = idx[:n_tr], idx[n_tr:n_tr + n_va], idx[n_tr + n_va:]
    x_train = data[:va[0] - 12, :, 0]
    mean, std = x_train.mean(), x_train.std()
    data[..., 0] = (data[..., 0] - mean) / std
    np.savez_compressed(out / "his.npz", data=data, mean=mean, std=std)
    for name, arr in (("idx_train", tr), ("idx_val", va), ("idx_test", te)):
        np.save(out / f"{name}.npy", arr)


@pytest.fixture
def processed(largest):
    root, raw, specs = largest
    want, adj, ids = largest_reference(raw, [11])
    his = pd.DataFrame(want.astype(np.float64), index=pd.date_range("2019-01-01", periods=DAYS * 96,
                                                                    freq="15min"), columns=ids)
    sd = root / "LARGEST" / "sd"
    largest_generate(his, sd / "2019")
    np.save(sd / "sd_rn_adj.npy", adj)
    spec = yaml.safe_load((REPO / "configs" / "datasets" / "LARGEST-SD-NPZ.yaml").read_text())
    spec["time"]["steps"] = DAYS * 96
    (specs / "LARGEST-SD-NPZ.yaml").write_text(yaml.safe_dump(spec))
    return root, sd


def test_processed_layout_gives_largest_windows(processed):
    root, sd = processed
    npz = D.load_windowed("LARGEST-SD-NPZ", root)
    raw = D.load_windowed("LARGEST-SD", root)
    for split in ("train", "val", "test"):
        idx = np.load(sd / "2019" / f"idx_{split}.npy")
        np.testing.assert_array_equal(npz.starts[split], idx - 11)   # LargeST's own windows
        np.testing.assert_array_equal(raw.starts[split], idx - 11)   # = the 6:2:2 ratio split
    np.testing.assert_array_equal(npz.raw.values, raw.raw.values)    # exact flows back
    np.testing.assert_array_equal(npz.raw.adj, raw.raw.adj)
    np.testing.assert_array_equal(npz.raw.timestamps, raw.raw.timestamps)
    x1, y1, m1 = npz.gather("test", [0, 5])
    x2, y2, m2 = raw.gather("test", [0, 5])
    assert torch_equal(y1, y2) and torch_equal(m1, m2)


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


def test_explicit_windows_must_fit_the_run():
    from stbench.datasets.protocol import starts_from_anchors

    anchors = {"train": np.arange(11, 60), "val": np.arange(60, 70), "test": np.arange(70, 88)}
    got = starts_from_anchors(anchors, 100, 12, 12, "X")
    assert got["train"][0] == 0 and got["test"][-1] == 76
    with pytest.raises(DataError, match=r"X: explicit train window anchors 11\.\.59 do not fit 24 input"):
        starts_from_anchors(anchors, 100, 24, 12, "X")
    with pytest.raises(DataError, match=r"X: explicit val windows must be increasing and come after"):
        starts_from_anchors({**anchors, "val": np.arange(50, 70)}, 100, 12, 12, "X")


def test_processed_split_cannot_be_overridden_and_truncation_falls_back(processed):
    root, _ = processed
    with pytest.raises(DataError, match=r"LARGEST-SD-NPZ: its windows come from its index files"):
        D.load_windowed("LARGEST-SD-NPZ", root, split=[0.7, 0.1, 0.2])
    d = D.load_windowed("LARGEST-SD-NPZ", root, max_steps=200)       # smoke profile: ratio split
    assert d.num_windows("train") == round(177 * 0.6)


@pytest.mark.parametrize("case, pattern", [
    ("truncated_npz", r"his\.npz: cannot read npz archive"),
    ("idx_range", r"idx_test\.npy: window index \d+ out of range"),
    ("idx_overlap", r"idx_val\.npy: its first window \d+ is not after the last one of idx_train"),
    ("time_start", r"his\.npz: channel 1 \(time of day\) is .* fix time\.start"),
    ("adj_nodes", r"sd_rn_adj\.npy: adjacency has 5 nodes but .*his\.npz has 8"),
])
def test_processed_bad_inputs(processed, case, pattern):
    root, sd = processed
    if case == "truncated_npz":
        p = sd / "2019" / "his.npz"
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    elif case == "idx_range":
        np.save(sd / "2019" / "idx_test.npy", np.arange(250, 300))
    elif case == "idx_overlap":
        tr = np.load(sd / "2019" / "idx_train.npy")
        np.save(sd / "2019" / "idx_val.npy", np.arange(tr[-1] - 3, tr[-1] + 10))
    elif case == "time_start":
        specs = Path(str(D.registry.config_dirs()[-1]))
        spec = yaml.safe_load((specs / "LARGEST-SD-NPZ.yaml").read_text())
        spec["time"]["start"] = "2019-01-01 06:00"
        (specs / "LARGEST-SD-NPZ.yaml").write_text(yaml.safe_dump(spec))
    elif case == "adj_nodes":
        np.save(sd / "sd_rn_adj.npy", np.eye(5, dtype=np.float32))
    with pytest.raises(DataError, match=pattern) as e:
        D.load_raw("LARGEST-SD-NPZ", root)
    assert "\n" not in str(e.value)


# ----------------------------------------------------------------------------- bad raw inputs

def _truncate(p: Path, keep: float = 0.5) -> None:
    p.write_bytes(p.read_bytes()[: int(p.stat().st_size * keep)])


@pytest.mark.parametrize("case, pattern", [
    ("missing", r"LARGEST-SD: missing file .*LARGEST/ca/ca_his_raw_2019\.h5; it is not downloadable "
                r"automatically: get it from https://www\.kaggle\.com/datasets/liuxu77/largest"),
    ("truncated_h5", r"ca_his_raw_2019\.h5: cannot read pandas HDF store"),
    ("truncated_npy", r"ca_rn_adj\.npy: cannot read LargeST adjacency"),
    ("truncated_csv", r"ca_meta\.csv: "),
    ("meta_columns", r"ca_meta\.csv: meta CSV lacks column\(s\) \['ID2'\]"),
    ("adj_small", r"ca_meta\.csv: meta lists 30 sensors but the adjacency .*ca_rn_adj\.npy has only 20 nodes"),
    ("id2_range", r"ca_meta\.csv: ID2 99 is out of range for the 30 x 30 adjacency"),
    ("unknown_district", r"LARGEST-SD: options\.districts: district 99 has no sensor in .*ca_meta\.csv; "
                         r"districts there: 4, 7, 8, 11, 12"),
    ("missing_column", r"ca_his_raw_2019\.h5: 1 sensor ID\(s\) of the meta have no column in the h5"),
    ("node_count", r"ca_meta\.csv: districts \[11\] select 8 sensors, expected 716 \(options\.nodes\)"),
    ("adj_nan", r"ca_rn_adj\.npy: graph contains NaN or inf"),
    ("wrong_year", r"ca_his_raw_2019\.h5: no row in year 2018 \(the file holds \[2019\]\)"),
])
def test_raw_bad_inputs(largest, case, pattern):
    root, raw, specs = largest
    ca = root / "LARGEST" / "ca"
    spec_path = specs / "LARGEST-SD.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    if case == "missing":
        (ca / "ca_his_raw_2019.h5").unlink()
    elif case == "truncated_h5":
        _truncate(ca / "ca_his_raw_2019.h5")
    elif case == "truncated_npy":
        _truncate(ca / "ca_rn_adj.npy")
    elif case == "truncated_csv":
        text = (ca / "ca_meta.csv").read_text()
        (ca / "ca_meta.csv").write_text(text[: len(text) // 2].rsplit(",", 3)[0])
    elif case == "meta_columns":
        raw["meta"].drop(columns=["ID2"]).to_csv(ca / "ca_meta.csv", index=False)
    elif case == "adj_small":
        np.save(ca / "ca_rn_adj.npy", raw["adj"][:20, :20])
    elif case == "id2_range":
        m = raw["meta"].copy()
        m.loc[m.District == 11, "ID2"] = 99 + np.arange((m.District == 11).sum())
        m.to_csv(ca / "ca_meta.csv", index=False)
    elif case == "unknown_district":
        spec["options"]["districts"] = [99]
    elif case == "missing_column":
        sd_id = raw["meta"][raw["meta"].District == 11].ID.astype(str).iloc[0]
        raw["df"].drop(columns=[sd_id]).to_hdf(ca / "ca_his_raw_2019.h5", key="t", mode="w")
    elif case == "node_count":
        spec["options"]["nodes"] = 716
    elif case == "adj_nan":
        a = raw["adj"].copy()
        a[raw["meta"][raw["meta"].District == 11].ID2.iloc[0], :] = np.nan
        np.save(ca / "ca_rn_adj.npy", a)
    elif case == "wrong_year":
        spec["options"]["year"] = 2018
    spec_path.write_text(yaml.safe_dump(spec))
    with pytest.raises(DataError, match=pattern) as e:
        D.load_raw("LARGEST-SD", root)
    assert "\n" not in str(e.value)


def test_shipped_yamls_and_download_message(tmp_path):
    """The shipped specs: node counts, districts, 35,040 steps; download names the Kaggle page."""
    from stbench.datasets.download import download_dataset

    want = {"SD": ([11], 716), "GBA": ([4], 2352), "GLA": ([7, 8, 12], 3834), "CA": (None, 8600)}
    for sub, (dist, n) in want.items():
        s = D.dataset_spec(f"LARGEST-{sub}")
        assert s["options"]["districts"] == dist and s["options"]["nodes"] == n
        assert s["time"]["steps"] == 35040 and s["split"] == [0.6, 0.2, 0.2] and s["null_value"] == 0
        assert D.dataset_spec(f"LARGEST-{sub}-NPZ")["format"] == "largest_npz"
    with pytest.raises(DataError, match=r"LARGEST-GLA: no direct download URL for .*LARGEST/ca/ca_his_raw_2019\.h5 "
                                        r"\(get it from https://www\.kaggle\.com/datasets/liuxu77/largest"):
        download_dataset("LARGEST-GLA", tmp_path)


def test_npz_stream_matches_numpy(tmp_path):
    """The row-block reader of his.npz equals np.load, at any block size."""
    from stbench.datasets.formats_largest import stream_npz_channel

    a = np.random.default_rng(1).normal(size=(37, 5, 3))
    np.savez_compressed(tmp_path / "x.npz", data=a)
    for block in (1, 100, 1 << 20):
        v, aux, shape = stream_npz_channel(tmp_path / "x.npz", "data", 0, block_bytes=block)
        assert shape == (37, 5, 3)
        np.testing.assert_array_equal(v, a[..., 0].astype(np.float32))
        np.testing.assert_array_equal(aux[2], a[:, 0, 2])
    with zipfile.ZipFile(tmp_path / "y.npz", "w") as z:
        z.writestr("data.npy", b"\x93NUMPY garbage")
    with pytest.raises(DataError, match=r"y\.npz"):
        stream_npz_channel(tmp_path / "y.npz", "data", 0)
