"""Per-window stationarity statistic psi_i and its quantile strata (computed once).

For window i, node k, with input part ``x_in = values[s : s + P]`` and target part
``x_out = values[s + P : s + P + Q]`` (valid entries only; means m, population variances v)::

    level shift   delta = (m_out - m_in) / sqrt((v_in + v_out) / 2 + eps_k)
    variance      rho   = log((v_out + eps_k) / (v_in + eps_k))
    psi_ik        = |delta| + |rho|,     eps_k = tau * var_k + 1e-8

where var_k is node k's variance over the training series and tau = 0.05 (the same
floor as the complexity term). psi_i is the mean of psi_ik over the nodes with a
valid entry in both parts (0 if none). psi = 0 for a window whose target part
continues the input part's level and spread; large for regime changes.

Strata: ``quantile_strata(psi, K)`` ranks the windows (ties broken by window order)
and cuts the ranks into K groups of equal size (+-1), so strata are well defined
even when psi has ties.
"""
from __future__ import annotations

import numpy as np

from .complexity import TAU, NodeStats, node_average, node_chunks, window_arrays


def stationarity_stat(values, starts, in_steps: int, out_steps: int) -> np.ndarray:
    """(n,) psi_i >= 0 (module doc); O(T N + n N) through prefix sums, over blocks of nodes
    (``complexity.node_chunks``: memory O((T + n) N_c), every node at once when it fits)."""
    v, s, _ = window_arrays(values, starts, in_steps, out_steps, who="stationarity")
    P, Q = int(in_steps), int(out_steps)
    num, k = np.zeros(len(s)), np.zeros(len(s), dtype=np.int64)
    for cols in node_chunks(*v.shape):
        stats = NodeStats(v[:, cols])
        c_in, m_in, e_in = stats.moments(s, 0, P)
        c_out, m_out, e_out = stats.moments(s, P, P + Q)
        var_in = e_in / np.maximum(c_in, 1.0)
        var_out = e_out / np.maximum(c_out, 1.0)
        eps = TAU * stats.node_var[None, :] + 1e-8
        shift = (m_out - m_in) / np.sqrt(0.5 * (var_in + var_out) + eps)
        ratio = np.log((var_out + eps) / (var_in + eps))
        ok = (c_in > 0) & (c_out > 0)
        num += np.where(ok, np.abs(shift) + np.abs(ratio), 0.0).sum(1)
        k += ok.sum(1)
        del stats
    return node_average(num, k)


def quantile_strata(score: np.ndarray, k: int) -> np.ndarray:
    """(n,) int64 stratum id in 0..k-1: rank-based quantile groups of equal size (+-1)."""
    score = np.asarray(score, dtype=np.float64)
    n = score.size
    if int(k) < 1:
        raise ValueError(f"quantile_strata: need k >= 1 strata, got {k}")
    order = np.argsort(score, kind="stable")
    strata = np.empty(n, dtype=np.int64)
    strata[order] = (np.arange(n, dtype=np.int64) * int(k)) // max(n, 1)
    return strata


def context_stationarity(ctx) -> np.ndarray:
    """stationarity_stat on a PruneContext."""
    if ctx.starts is not None and len(ctx.starts) != ctx.n:
        raise ValueError(f"stationarity: PruneContext.starts has {len(ctx.starts)} windows but n = {ctx.n}")
    return stationarity_stat(ctx.values, ctx.starts, ctx.in_steps, ctx.out_steps)
