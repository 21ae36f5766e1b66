"""Intrinsic complexity c_i of each training window (model-free, computed once).

Window i covers x = values[s_i : s_i + L], L = in_steps + out_steps, shape (L, N).
Each node's window is centred on its own mean over its valid steps; missing entries
(NaN) are ignored (they count as 0 after centring and drop out of every sum and count).

Temporal term (``temporal``, averaged over the nodes that have >= 2 valid steps):

- ``diff_energy`` (default): normalised first-difference energy
  ``mean_t (x_{t+1} - x_t)^2 / (2 * (var_t(x) + tau * var_node))``, about 1 for white
  noise, 2 for an alternating signal, near 0 for a smooth one. ``var_node`` is the
  node's variance over the whole training series; the floor ``tau * var_node``
  (tau = 0.05) keeps near-constant windows from dividing by ~0. Only differences of two
  valid neighbours count.
- ``spectral_entropy``: Shannon entropy of the normalised power spectrum of the
  centred window (DC excluded), divided by log(#frequencies): 1 for a flat spectrum
  (noise), 0 for one pure frequency.

Spatial term: graph total variation of the centred window,
``sum_t x_t^T Lap x_t / sum_t x_t^T x_t`` with the normalised Laplacian
``Lap = I - D^-1/2 A D^-1/2`` of the symmetrised adjacency ``A = (adj + adj^T) / 2``
without self-loops (isolated nodes are left out of numerator and denominator). It lies
in [0, 2]: low for spatially smooth (coherent) fluctuations, high for rough ones. It is
computed edge by edge, ``x^T Lap x = sum_{i<j} A_ij (x_i / sqrt(d_i) - x_j / sqrt(d_j))^2``,
so missing entries drop out exactly.

Both terms are rank-normalised to [0, 1] (average ranks for ties, (rank - 1) / (n - 1))
and combined: ``c = (1 - spatial_weight) * rank(temporal) + spatial_weight * rank(spatial)``.

Cost: every window sum is a difference of two prefix sums (cumulative sums over time),
so the temporal diff-energy term is O(T N + n N) and the spatial term O((T + n) E) for E
edges; spectral entropy works on strided window views in chunks of windows. Memory stays
O((T + n) N_c) for the per-node terms, which run over blocks of N_c = CHUNK_ENTRIES / T
nodes (all nodes at once up to METR-LA-sized series, so the arithmetic, and every score,
is unchanged there), plus the (N, T) input in node-major order for the edge-wise spatial
term, whose edges are processed in blocks of ``_BLOCK / T`` as contiguous rows. LargeST-CA
shape (8,600 nodes, 21,010 training windows): see results/perf/scale.json.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from stbench.registry import Registry

TEMPORAL_TERMS: Registry = Registry("temporal complexity term")

#: variance floor, as a fraction of the node's variance over the training series
TAU = 0.05
#: largest prefix-sum block (float64 entries) held at once in the edge-wise spatial term
_BLOCK = 4_000_000
#: float64 entries of one (T, nodes) block of the per-node terms (nodes per block: this / T);
#: small enough to stay in cache (about 6x faster than whole-array passes at LargeST size),
#: large enough that every committed data set is one block (same arithmetic as before)
CHUNK_ENTRIES = 2_000_000
#: float64 entries of one sub-block of edges computed at once inside an edge block
_SUB_BLOCK = 262_144


# ----------------------------------------------------------------------------- input checks

def window_arrays(values, starts, in_steps: int, out_steps: int, who: str = "complexity"):
    """Validated (values (T, N) as given, float32 or float64; starts int64 (n,); window length L).

    The values are not copied: each block of nodes is converted to float64 when it is used
    (exactly: float32 -> float64 is lossless)."""
    if values is None or starts is None:
        raise ValueError(f"{who}: needs PruneContext.values (T, N) and PruneContext.starts (n,); "
                         "the engine must pass the training series")
    v = np.asarray(values)
    if not np.issubdtype(v.dtype, np.floating):
        v = v.astype(np.float64)
    s = np.asarray(starts, dtype=np.int64)
    if v.ndim != 2:
        raise ValueError(f"{who}: PruneContext.values must be (T, N), got shape {v.shape}")
    if s.ndim != 1:
        raise ValueError(f"{who}: PruneContext.starts must be (n,), got shape {s.shape}")
    length = int(in_steps) + int(out_steps)
    if int(in_steps) < 1 or int(out_steps) < 1:
        raise ValueError(f"{who}: in_steps and out_steps must be >= 1, got {in_steps}, {out_steps}")
    if len(s) and (s.min() < 0 or s.max() + length > v.shape[0]):
        raise ValueError(f"{who}: windows [s, s + {length}) must lie inside values (T = {v.shape[0]}); "
                         f"starts range from {s.min()} to {s.max()}")
    return v, s, length


def prefix(a: np.ndarray) -> np.ndarray:
    """Prefix sums along axis 0 with a leading zero row: P[k] = sum(a[:k])."""
    out = np.zeros((a.shape[0] + 1,) + a.shape[1:], dtype=np.float64)
    np.cumsum(a, axis=0, out=out[1:])
    return out


def contiguous(starts: np.ndarray) -> bool:
    """True when the windows start at consecutive steps s0, s0 + 1, ... (the protocol's split)."""
    return len(starts) > 0 and int(starts[-1]) - int(starts[0]) == len(starts) - 1 and \
        bool((np.diff(starts) == 1).all())


def window_sum(p: np.ndarray, starts: np.ndarray, lo: int, hi: int, axis: int = 0) -> np.ndarray:
    """sum over steps [s + lo, s + hi) of the array whose prefix sums along ``axis`` are ``p``:
    (n, ...) for axis 0, (..., n) for axis 1. Consecutive starts are two slices, not a gather."""
    if contiguous(starts):
        a, n = int(starts[0]), len(starts)
        sl = lambda k: p[a + k:a + k + n] if axis == 0 else p[:, a + k:a + k + n]  # noqa: E731
        return sl(hi) - sl(lo)
    return p[starts + hi] - p[starts + lo] if axis == 0 else p[:, starts + hi] - p[:, starts + lo]


def node_chunks(num_steps: int, num_nodes: int, entries: int = None) -> list:
    """Slices of at most ``entries / T`` nodes (one slice for every node when it fits)."""
    step = max(1, int(entries or CHUNK_ENTRIES) // max(int(num_steps), 1))
    return [slice(a, min(num_nodes, a + step)) for a in range(0, num_nodes, step)]


class NodeStats:
    """Per-node prefix sums of the valid entries of a (T, N) series (NaN = missing)."""

    def __init__(self, values: np.ndarray):
        values = np.asarray(values, dtype=np.float64)
        valid = np.isfinite(values)
        z = np.where(valid, values, 0.0)
        self.valid = valid
        self.z = z
        self.count = prefix(valid.astype(np.float64))
        self.s1 = prefix(z)
        self.s2 = prefix(z * z)
        cnt = valid.sum(0)
        mean = z.sum(0) / np.maximum(cnt, 1)
        self.node_var = np.maximum((z * z).sum(0) / np.maximum(cnt, 1) - mean**2, 0.0)  # (N,)

    def moments(self, starts: np.ndarray, lo: int, hi: int):
        """(count, mean, centred energy sum (x - mean)^2) of rows [s+lo, s+hi), each (n, N)."""
        c = window_sum(self.count, starts, lo, hi)
        s1 = window_sum(self.s1, starts, lo, hi)
        s2 = window_sum(self.s2, starts, lo, hi)
        mean = s1 / np.maximum(c, 1.0)
        energy = np.maximum(s2 - s1 * mean, 0.0)
        return c, mean, energy


def rank01(x: np.ndarray) -> np.ndarray:
    """Average ranks scaled to [0, 1]: (rank - 1) / (n - 1); ties share a rank; n = 1 -> 0.5."""
    from scipy.stats import rankdata

    x = np.asarray(x, dtype=np.float64)
    if x.size <= 1:
        return np.full(x.shape, 0.5)
    return (rankdata(x, method="average") - 1.0) / (x.size - 1.0)


def _node_sums(per_node: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum over the nodes where ``ok`` (n, N) holds, their count): a node average in parts."""
    return np.where(ok, per_node, 0.0).sum(1), ok.sum(1)


def node_average(num: np.ndarray, k: np.ndarray) -> np.ndarray:
    """num / k where k > 0 nodes qualify, else 0 (the blocks' ``_node_sums`` added up)."""
    return np.where(k > 0, num / np.maximum(k, 1), 0.0)


# ----------------------------------------------------------------------------- temporal terms

# A temporal term gets the NodeStats of a block of nodes and returns (sum over its nodes
# that qualify, their count), each (n,); complexity_terms adds the blocks up and divides.

@TEMPORAL_TERMS.register("diff_energy")
def diff_energy(stats: NodeStats, starts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised first-difference energy of each node's window, summed over the nodes."""
    z, v = stats.z, stats.valid
    dv = v[1:] & v[:-1]
    d2 = np.where(dv, (z[1:] - z[:-1]) ** 2, 0.0)
    pd, pc = prefix(d2), prefix(dv.astype(np.float64))
    dsum = window_sum(pd, starts, 0, length - 1)
    dcnt = window_sum(pc, starts, 0, length - 1)
    c, _, energy = stats.moments(starts, 0, length)
    var = energy / np.maximum(c, 1.0)
    denom = 2.0 * (var + TAU * stats.node_var[None, :])
    ok = (dcnt > 0) & (c >= 2) & (denom > 1e-12)
    per_node = np.divide(dsum / np.maximum(dcnt, 1.0), denom, out=np.zeros_like(dsum), where=ok)
    return _node_sums(per_node, ok)


@TEMPORAL_TERMS.register("spectral_entropy")
def spectral_entropy(stats: NodeStats, starts: np.ndarray, length: int,
                     chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Normalised spectral entropy of each node's centred window, summed over the nodes."""
    from numpy.lib.stride_tricks import sliding_window_view

    n_freq = length // 2  # frequencies 1 .. L//2 (DC dropped)
    if n_freq < 2:
        return np.zeros(len(starts)), np.zeros(len(starts), dtype=np.int64)
    zv = sliding_window_view(stats.z, length, axis=0)        # (T-L+1, N, L) view, no copy
    vv = sliding_window_view(stats.valid, length, axis=0)
    out = np.empty(len(starts))
    cnt_out = np.empty(len(starts), dtype=np.int64)
    for a in range(0, len(starts), chunk):                    # chunks of windows, not samples
        idx = starts[a:a + chunk]
        x, m = zv[idx], vv[idx]                               # (b, N, L)
        cnt = m.sum(-1, keepdims=True)
        mean = x.sum(-1, keepdims=True) / np.maximum(cnt, 1)
        xc = np.where(m, x - mean, 0.0)
        power = np.abs(np.fft.rfft(xc, axis=-1)[..., 1:n_freq + 1]) ** 2
        total = power.sum(-1, keepdims=True)
        p = np.divide(power, total, out=np.zeros_like(power), where=total > 1e-12)
        h = -(p * np.log(np.where(p > 0, p, 1.0))).sum(-1) / np.log(n_freq)
        ok = (cnt[..., 0] >= 2) & (total[..., 0] > 1e-12)
        out[a:a + chunk], cnt_out[a:a + chunk] = _node_sums(h, ok)
    return out, cnt_out


# ----------------------------------------------------------------------------- spatial term

def graph_edges(adj: np.ndarray, num_nodes: int):
    """Undirected edges (i < j) of (adj + adj^T)/2 without self-loops: (i, j, weight, degree).

    Built in blocks of rows, so memory is O(rows N + E), not a few float64 copies of the
    N x N matrix; edges come in row-major order (as ``np.nonzero(np.triu(A, 1))``)."""
    a = np.asarray(adj)
    if a.shape != (num_nodes, num_nodes):
        raise ValueError(f"complexity: PruneContext.adj must be ({num_nodes}, {num_nodes}), got {a.shape}")
    if not np.isfinite(a).all() or (a < 0).any():
        raise ValueError("complexity: PruneContext.adj must be finite and non-negative")
    rows = max(1, _BLOCK // max(num_nodes, 1))
    deg = np.empty(num_nodes)
    ii, jj, ww = [], [], []
    for r in range(0, num_nodes, rows):
        r1 = min(num_nodes, r + rows)
        sym = 0.5 * (a[r:r1].astype(np.float64) + a[:, r:r1].T.astype(np.float64))  # rows of (A + A^T)/2
        sym[np.arange(r1 - r), np.arange(r, r1)] = 0.0                            # no self-loops
        deg[r:r1] = sym.sum(1)
        bi, bj = np.nonzero(np.triu(sym, r + 1))                                   # j > i only
        ii.append(bi + r)
        jj.append(bj)
        ww.append(sym[bi, bj])
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    return cat(ii, np.int64), cat(jj, np.int64), cat(ww, np.float64), deg


def spatial_numerator(values: np.ndarray, starts: np.ndarray, length: int, i: np.ndarray, j: np.ndarray,
                      w: np.ndarray, deg: np.ndarray) -> np.ndarray:
    """(n,) sum_{edges i<j} A_ij sum_{t in window, both valid} (g_t - mean g)^2, g = x_i/sqrt(d_i) - x_j/sqrt(d_j).

    ``values`` (T, N), NaN = missing (float32 or float64). Works node-major: the (N, T)
    transpose is taken once, an edge block gathers contiguous rows and sums along them."""
    T, N = values.shape
    n = len(starts)
    num = np.zeros(n)
    if len(w) == 0:
        return num
    inv = np.where(deg > 0, 1.0 / np.sqrt(np.where(deg > 0, deg, 1.0)), 0.0)
    vt = np.ascontiguousarray(values.T)                       # (N, T)
    ok = np.isfinite(vt)
    zs = np.where(ok, vt, 0.0).astype(np.float64)             # z / sqrt(d) per node, float64
    zs *= inv[:, None]
    del vt
    block = max(1, _BLOCK // max(T, 1))
    sub = max(1, _SUB_BLOCK // max(T, 1))
    for a in range(0, len(w), block):                         # blocks of edges, not samples
        e1 = min(len(w), a + block)
        centred = np.empty((n, e1 - a))                       # sum_t (g_t - mean g)^2 per window, edge
        for c0 in range(a, e1, sub):                          # cache-sized sub-blocks of the block
            bi, bj = i[c0:min(e1, c0 + sub)], j[c0:min(e1, c0 + sub)]
            ev = ok[bi] & ok[bj]                              # (b, T) both ends valid
            g = np.where(ev, zs[bi] - zs[bj], 0.0)
            c = window_sum(_prefix_rows(ev.astype(np.float64)), starts, 0, length, axis=1)
            s1 = window_sum(_prefix_rows(g), starts, 0, length, axis=1)
            s2 = window_sum(_prefix_rows(g * g), starts, 0, length, axis=1)
            centred[:, c0 - a:c0 - a + len(bi)] = np.maximum(s2 - s1 * s1 / np.maximum(c, 1.0), 0.0).T
        num += centred @ w[a:e1]                               # one product per block (as before)
    return num


def _prefix_rows(a: np.ndarray) -> np.ndarray:
    """Prefix sums along axis 1 with a leading zero column: P[:, k] = sum(a[:, :k], 1)."""
    out = np.zeros((a.shape[0], a.shape[1] + 1), dtype=np.float64)
    np.cumsum(a, axis=1, out=out[:, 1:])
    return out


def graph_total_variation(stats: NodeStats, starts: np.ndarray, length: int,
                          adj: np.ndarray) -> np.ndarray:
    """(n,) sum_t x_t^T Lap x_t / sum_t x_t^T x_t of the centred window (0 if no energy),
    from the NodeStats of every node (``complexity_terms`` does the same block by block)."""
    T, N = stats.z.shape
    i, j, w, deg = graph_edges(adj, N)
    num = spatial_numerator(np.where(stats.valid, stats.z, np.nan), starts, length, i, j, w, deg)
    _, _, energy = stats.moments(starts, 0, length)
    den = energy[:, deg > 0].sum(1)
    return np.divide(num, den, out=np.zeros(len(starts)), where=den > 1e-12)


# ----------------------------------------------------------------------------- public entry

def complexity_terms(values, starts, in_steps: int, out_steps: int, adj=None,
                     temporal: str = "diff_energy", spatial: bool = True) -> dict:
    """Raw terms before ranking: {"temporal": (n,), "spatial": (n,) or None}.

    Per-node parts run over blocks of nodes (``node_chunks``): the temporal term's node sums
    and counts, and the spatial term's denominator sum_{k: d_k > 0} sum_t (x_tk - mean)^2,
    are added up over the blocks; the spatial numerator runs over blocks of edges."""
    v, s, length = window_arrays(values, starts, in_steps, out_steps)
    T, N = v.shape
    term: Callable = TEMPORAL_TERMS.get(temporal)
    if spatial and adj is None:
        raise ValueError("complexity: the spatial term needs PruneContext.adj; "
                         "set spatial_weight: 0 to use the temporal term only")
    edges = graph_edges(adj, N) if spatial else None
    n = len(s)
    num, k, den = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n)
    for cols in node_chunks(T, N):
        stats = NodeStats(v[:, cols])
        part, cnt = term(stats, s, length)
        num += part
        k += cnt
        if spatial:
            _, _, energy = stats.moments(s, 0, length)
            den += energy[:, edges[3][cols] > 0].sum(1)
        del stats
    out = {"temporal": node_average(num, k), "spatial": None}
    if spatial:
        top = spatial_numerator(v, s, length, *edges)
        out["spatial"] = np.divide(top, den, out=np.zeros(n), where=den > 1e-12)
    return out


def complexity_scores(values, starts, in_steps: int, out_steps: int, adj=None,
                      temporal: str = "diff_energy", spatial_weight: float = 0.5) -> np.ndarray:
    """(n,) intrinsic complexity c_i in [0, 1] (higher = harder window); see module doc."""
    w = float(spatial_weight)
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"complexity: spatial_weight must be in [0, 1], got {spatial_weight!r}")
    terms = complexity_terms(values, starts, in_steps, out_steps, adj, temporal, spatial=w > 0)
    c = (1.0 - w) * rank01(terms["temporal"])
    if w > 0:
        c = c + w * rank01(terms["spatial"])
    return np.clip(c, 0.0, 1.0)


def context_complexity(ctx, temporal: str = "diff_energy", spatial_weight: float = 0.5,
                       who: Optional[str] = None) -> np.ndarray:
    """complexity_scores on a PruneContext (values, starts, in/out steps, adj)."""
    if ctx.starts is not None and len(ctx.starts) != ctx.n:
        raise ValueError(f"{who or 'complexity'}: PruneContext.starts has {len(ctx.starts)} windows "
                         f"but n = {ctx.n}")
    return complexity_scores(ctx.values, ctx.starts, ctx.in_steps, ctx.out_steps, ctx.adj,
                             temporal=temporal, spatial_weight=spatial_weight)
