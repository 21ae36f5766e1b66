"""Graph helpers: the hand-written numpy versions against torch-geometric (a benchmark, not a test).

``python -m stbench.benchmarks.perf_graphs [--repeat 5] [--json]`` times each graph operation the
suite performs, once as written in ``datasets/graphs.py`` / ``models/graph.py`` /
``datasets/graph_options.py`` (dense numpy on the (N, N) matrix) and once through the
``torch_geometric.utils`` route that would replace it (dense -> ``dense_to_sparse`` -> the
utility -> ``to_dense_adj``), on two graphs:

* 207 nodes: METR-LA's published ``adj_mx.pkl`` (DCRNN Gaussian kernel, 4 % dense, with
  self-loops) when the data root has it, else the synthetic road graph at 207 nodes;
* 3,834 nodes (LargeST GLA's size): the synthetic road graph (``SyntheticRoads`` distances,
  Gaussian kernel, sigma 1 km, threshold 0.1).

For every pair it reports the best of ``repeat`` wall-clock times (one thread) and whether
the outputs are bitwise equal (``same``) or only equal to float32 rounding (``close``).
The verdict recorded in the helpers' docstrings comes from this table.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Callable, Dict, List

import numpy as np
import torch


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def graph_207(data_root=None) -> tuple[str, np.ndarray]:
    """METR-LA's adj_mx.pkl if present under the data root, else a synthetic 207-node road graph."""
    import pickle

    from stbench.datasets.registry import resolve_data_root

    p = resolve_data_root(data_root) / "METR-LA" / "adj_mx.pkl"
    if p.is_file():
        with open(p, "rb") as f:
            return "METR-LA adj_mx.pkl", np.asarray(pickle.load(f, encoding="latin1")[2], dtype=np.float32)
    return "synthetic roads", synthetic_graph(207)


def synthetic_graph(n: int, sigma_km: float = 1.0) -> np.ndarray:
    from stbench.datasets.graphs import gaussian_kernel
    from stbench.datasets.synthetic import SyntheticRoads

    dist, _ = SyntheticRoads(nodes=n, corridors=max(4, n // 100), seed=0).road_distances(np.random.default_rng(0))
    return gaussian_kernel(dist, sigma=sigma_km, threshold=0.1, self_loops=True)


def _pyg_pairs(adj: np.ndarray) -> Dict[str, tuple[Callable[[], np.ndarray], Callable[[], np.ndarray]]]:
    """{operation: (numpy version, torch-geometric version)}, each returning a dense (N, N) array."""
    from torch_geometric.utils import (add_self_loops, coalesce, dense_to_sparse, get_laplacian,
                                       remove_self_loops, to_dense_adj, to_undirected)

    from stbench.datasets.graphs import edge_list_adjacency
    from stbench.models.graph import sym_norm_laplacian, transition_matrix

    n = adj.shape[0]
    a64 = adj.astype(np.float64)
    off = a64.copy()
    np.fill_diagonal(off, 0.0)
    src, dst = np.nonzero(off)
    cost = off[src, dst]

    def dense(ei, w):
        return to_dense_adj(ei, edge_attr=w, max_num_nodes=n)[0].numpy()

    def pyg_sym():
        ei, w = dense_to_sparse(torch.from_numpy(a64))
        return dense(*to_undirected(ei, w, num_nodes=n, reduce="max"))

    def pyg_no_loops():
        ei, w = dense_to_sparse(torch.from_numpy(a64))
        return dense(*remove_self_loops(ei, w))

    def pyg_loops():
        ei, w = remove_self_loops(*dense_to_sparse(torch.from_numpy(a64)))
        return dense(*add_self_loops(ei, w, fill_value=1.0, num_nodes=n))

    def np_no_loops():
        out = a64.copy()
        np.fill_diagonal(out, 0.0)
        return out

    def np_loops():
        out = a64.copy()
        np.fill_diagonal(out, 1.0)
        return out

    def pyg_lap():  # get_laplacian drops self-loops first: compared on the loop-free graph
        ei, w = dense_to_sparse(torch.from_numpy(np.maximum(off, off.T)))
        return dense(*get_laplacian(ei, w, normalization="sym", num_nodes=n))

    def pyg_transition():  # P = I - L_rw, again on the loop-free graph
        ei, w = dense_to_sparse(torch.from_numpy(off))
        return np.eye(n) - dense(*get_laplacian(ei, w, normalization="rw", num_nodes=n))

    def pyg_edges():
        ei = torch.from_numpy(np.stack([src, dst]).astype(np.int64))
        ei, w = to_undirected(ei, torch.from_numpy(np.ones_like(cost)), num_nodes=n, reduce="max")
        ei, w = coalesce(ei, w, num_nodes=n, reduce="max")
        return dense(ei, w)

    return {
        "symmetrise max(A, A^T)": (lambda: np.maximum(a64, a64.T), pyg_sym),
        "remove self-loops": (np_no_loops, pyg_no_loops),
        "add self-loops (weight 1)": (np_loops, pyg_loops),
        "sym. normalised Laplacian (no loops)": (lambda: sym_norm_laplacian(off), pyg_lap),
        "transition D^-1 A (no loops)": (lambda: transition_matrix(off).astype(np.float64), pyg_transition),
        "edge list -> binary symmetric": (
            lambda: edge_list_adjacency(src, dst, cost, n, weight="binary", symmetric=True).astype(np.float64),
            pyg_edges),
    }


def run(repeat: int = 5, data_root=None) -> List[dict]:
    torch.set_num_threads(1)
    rows = []
    name207, a207 = graph_207(data_root)
    for label, adj in ((f"207 ({name207})", a207), ("3834 (synthetic roads)", synthetic_graph(3834))):
        density = float((adj != 0).mean())
        for op, (np_fn, pyg_fn) in _pyg_pairs(adj).items():
            t_np, out_np = _best(np_fn, repeat)
            t_pyg, out_pyg = _best(pyg_fn, repeat)
            out_np, out_pyg = np.asarray(out_np, np.float64), np.asarray(out_pyg, np.float64)
            same = bool(np.array_equal(out_np.astype(np.float32), out_pyg.astype(np.float32)))
            close = bool(np.allclose(out_np, out_pyg, rtol=1e-6, atol=1e-7))
            rows.append({"graph": label, "density": round(density, 4), "operation": op,
                         "numpy_ms": round(1e3 * t_np, 3), "pyg_ms": round(1e3 * t_pyg, 3),
                         "pyg_over_numpy": round(t_pyg / t_np, 1) if t_np > 0 else None,
                         "same": same, "close": close})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--data-root", default=None)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    rows = run(args.repeat, args.data_root)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'graph':<32} {'operation':<38} {'numpy ms':>9} {'pyg ms':>9} {'ratio':>6}  same/close")
    for r in rows:
        print(f"{r['graph']:<32} {r['operation']:<38} {r['numpy_ms']:>9} {r['pyg_ms']:>9} "
              f"{r['pyg_over_numpy']:>6}  {r['same']}/{r['close']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
