"""Graph support matrices built once from a data set's (N, N) adjacency.

All builders take a weighted adjacency A (numpy (N, N), A[i, j] > 0 = edge i -> j)
and return float32 numpy arrays; models register them as buffers. They are looked
up by name in ``SUPPORTS`` (``@SUPPORTS.register("name")``).

* ``transition``: P = D_out^-1 A (rows sum to 1; rows of isolated nodes stay 0),
  so (P x)_i = sum_j P_ij x_j is one random-walk step (DCRNN, Graph WaveNet).
* ``double_transition``: [P(A), P(A^T)], the forward and backward diffusion.
* ``sym_norm_laplacian``: L = I - D^-1/2 A_s D^-1/2 with A_s = max(A, A^T).
* ``scaled_laplacian``: L~ = 2 L / lambda_max - I, eigenvalues in [-1, 1], the
  Chebyshev-polynomial domain (ChebNet, STGCN). lambda_max is computed (largest
  eigenvalue of the symmetric L); if lambda_max >= 2 it is taken as 2 (L - I).
* ``identity``: I.

Every builder returns a stack (S, N, N) so models can treat supports uniformly.

Why numpy and not ``torch_geometric.utils`` (measured with ``python -m stbench.benchmarks.perf_graphs``,
best of 5-7, one thread, a shared 2-core machine, two runs): on METR-LA's 207-node
``adj_mx.pkl`` these numpy versions take 0.07-0.17 ms and the PyG route (dense_to_sparse ->
get_laplacian -> to_dense_adj) 0.66-1.0 ms (5-15x slower); on a 3,834-node road graph (1.7 %
dense) the symmetric normalised Laplacian takes 177-230 ms in numpy vs 264-281 ms in PyG and
D^-1 A 59-77 ms vs 176-178 ms. The outputs agree bitwise on graphs without self-loops, but
``get_laplacian`` drops self-loops before normalising, while these supports keep them
(DCRNN's adj_mx.pkl has a unit diagonal), so swapping would change every GWNet / STGCN output
on METR-LA and PEMS-BAY (tests/test_own_data.py checks both facts). Importing
``torch_geometric.utils`` also costs about 2.9 s per process. Nothing here uses it.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from stbench.registry import Registry

SUPPORTS: Registry[Callable[[np.ndarray], np.ndarray]] = Registry("graph support")


def check_adjacency(adj, num_nodes: int, where: str) -> np.ndarray:
    """Return ``adj`` as float64 (N, N); ValueError naming ``where`` if it is unusable."""
    if adj is None:
        hint = (" or set supports: null to run on the adaptive adjacency alone" if where == "gwnet" else "")
        raise ValueError(f"{where}: needs a graph (meta.adj), got None: the data set has none "
                         f"(graph: {{kind: none}}); give it one (graph.kind: correlation, complete, coords, "
                         f"edges or matrix; docs/own_data.md){hint}, or use a model without a graph "
                         f"(stid, staeformer, agcrn)")
    a = np.asarray(adj, dtype=np.float64)
    if a.shape != (num_nodes, num_nodes):
        raise ValueError(f"{where}: adjacency must have shape ({num_nodes}, {num_nodes}), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{where}: adjacency contains NaN or inf")
    return a


def _inverse(d: np.ndarray, power: float = 1.0) -> np.ndarray:
    out = np.zeros_like(d)
    nz = d > 0
    out[nz] = d[nz] ** (-power)
    return out


def transition_matrix(adj: np.ndarray) -> np.ndarray:
    """P = D^-1 A with D = diag(row sums); (N, N) float32."""
    a = np.asarray(adj, dtype=np.float64)
    return (_inverse(a.sum(1))[:, None] * a).astype(np.float32)


def sym_norm_laplacian(adj: np.ndarray) -> np.ndarray:
    """L = I - D^-1/2 A_s D^-1/2 with A_s = max(A, A^T); (N, N) float64."""
    a = np.asarray(adj, dtype=np.float64)
    a = np.maximum(a, a.T)
    d = _inverse(a.sum(1), 0.5)
    return np.eye(a.shape[0]) - d[:, None] * a * d[None, :]


def largest_eigenvalue(sym: np.ndarray, dense_max: int = 600) -> float:
    """Largest-magnitude eigenvalue of a symmetric matrix (ARPACK above ``dense_max`` nodes)."""
    n = sym.shape[0]
    if n <= dense_max:
        return float(np.abs(np.linalg.eigvalsh(sym)).max())
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import eigsh

    return float(abs(eigsh(csr_matrix(sym), k=1, which="LM", return_eigenvectors=False)[0]))


def scaled_laplacian(adj: np.ndarray, lambda_max: Optional[float] = None) -> np.ndarray:
    """L~ = 2 L / lambda_max - I (L - I when lambda_max >= 2); (N, N) float32."""
    lap = sym_norm_laplacian(adj)
    lam = largest_eigenvalue(lap) if lambda_max is None else float(lambda_max)
    eye = np.eye(lap.shape[0])
    out = lap - eye if lam >= 2.0 or lam <= 0.0 else 2.0 * lap / lam - eye
    return out.astype(np.float32)


@SUPPORTS.register("transition")
def _transition(adj: np.ndarray) -> np.ndarray:
    return transition_matrix(adj)[None]


@SUPPORTS.register("double_transition")
def _double_transition(adj: np.ndarray) -> np.ndarray:
    a = np.asarray(adj, dtype=np.float64)
    return np.stack([transition_matrix(a), transition_matrix(a.T)])


@SUPPORTS.register("sym_norm_laplacian")
def _sym_norm_laplacian(adj: np.ndarray) -> np.ndarray:
    return sym_norm_laplacian(adj).astype(np.float32)[None]


@SUPPORTS.register("scaled_laplacian")
def _scaled_laplacian(adj: np.ndarray) -> np.ndarray:
    return scaled_laplacian(adj)[None]


@SUPPORTS.register("identity")
def _identity(adj: np.ndarray) -> np.ndarray:
    return np.eye(np.asarray(adj).shape[0], dtype=np.float32)[None]


def build_supports(kind: str, adj, num_nodes: int, where: str) -> np.ndarray:
    """Validate ``adj`` and build the (S, N, N) float32 support stack named ``kind``."""
    try:
        builder = SUPPORTS.get(kind)
    except KeyError as e:
        raise ValueError(f"{where}: {e.args[0]}") from None
    return np.ascontiguousarray(builder(check_adjacency(adj, num_nodes, where)), dtype=np.float32)


def grid_adjacency(height: int, width: int) -> np.ndarray:
    """Binary 4-neighbourhood adjacency of an (height x width) grid, row-major; (HW, HW)."""
    n = height * width
    idx = np.arange(n).reshape(height, width)
    a = np.zeros((n, n), dtype=np.float32)
    for src, dst in ((idx[:, :-1], idx[:, 1:]), (idx[:-1, :], idx[1:, :])):
        a[src.ravel(), dst.ravel()] = 1.0
        a[dst.ravel(), src.ravel()] = 1.0
    return a
