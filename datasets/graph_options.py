"""The ``graph:`` block: how a data set's (N, N) adjacency is built, by ``kind``.

Every builder is registered in ``GRAPH_KINDS`` (``@GRAPH_KINDS.register("name")``) and
returns a float (N, N) matrix A with A[i, j] > 0 an edge i -> j of that weight, 0 no edge,
in the series' node order. Then, for every kind, ``symmetric: true`` replaces A by
max(A, A^T) and ``self_loops: true / false`` sets the diagonal to 1 / 0 (null: the kind's
default, below). The result must be finite.

=============  =========  ============================================================
kind           file       A[i, j]
=============  =========  ============================================================
coords         coords     exp(-(d_ij / sigma)^2) with d the haversine distance in km,
                          sigma = ``sigma_km`` (null: the std of the distances);
                          weights below ``threshold`` (0.1) -> 0 (DCRNN's kernel)
edges          graph      an edge list ``from,to[,cost]`` (header row; node ids as in
                          the series): ``weight: binary`` 1, ``cost`` the cost,
                          ``gaussian`` exp(-(cost / sigma)^2), sigma = ``sigma`` or the
                          std of the costs, below ``threshold`` -> 0; an edge listed
                          twice keeps its larger weight; symmetric by default (the
                          larger of i->j and j->i); listed i->i edges are dropped
                          (``self_loops: true`` sets the diagonal to 1)
matrix         graph      a dense N x N matrix: CSV without header in the series' node
                          order, CSV whose header row names the nodes
                          (``matrix_header: true``; reordered to the series), or .npy;
                          kept as it is (diagonal included) unless told otherwise
complete       -          1 for every i != j
correlation    -          Pearson r_ij over the training span only (below), NaN-aware:
                          each pair uses the steps where both readings are valid
                          (finite and not ``null_value``); keeps, per node i, its
                          ``top_k`` largest r_ij > 0 and / or every r_ij >= ``min_corr``
                          (``absolute: true``: |r_ij| instead of r_ij); weight r_ij;
                          symmetric by default
none           -          no graph: A = 0 and models get ``meta.adj = None``; models
                          that need a graph (GWNet with fixed supports, STGCN) stop
                          with an error saying so; STID, STAEformer, AGCRN and GWNet
                          with ``supports: null`` (adaptive adjacency only) run
=============  =========  ============================================================

Defaults of ``symmetric`` / ``self_loops``: coords false / false (A is symmetric anyway),
edges true / false, matrix false / null (the file's diagonal), complete false / false,
correlation true / false.

**Training span** (``correlation``): the steps the training windows cover, inputs and
targets, ``[0, n_train - 1 + P + Q)`` with ``n_train = round(r_train (T - P - Q + 1))``
windows (the protocol's split, ``datasets/protocol.py``); with explicit windows
(``RawSeries.extra["split_anchors"]``) up to the last training anchor + Q. ``load_raw``
fits it for P = Q = 12 and the YAML's split; ``load_windowed`` refits it when the run's
P, Q, split or ``max_steps`` give another span, so no validation or test step ever
shapes the graph. A node with fewer than 2 valid readings, or a constant one, in that
span has no defined correlation: an error names it. Cost: three (N, T) x (T, N)
products (one without missing values), fine up to a few thousand nodes.

**Any format**: the generic formats (``wide_table``, ``long_table``) take the whole
block (``GRAPH_OPTIONS``, ``kind`` required). A format that builds its published graph
itself (``tgcn_csv``, ``pems_npz``, ...) keeps it unless its YAML says ``graph: {kind:
complete | correlation | none, ...}`` (``OVERRIDE_OPTIONS``), which replaces it; the
kinds that read a file need a format that declares that file (the generic ones).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from stbench.registry import Registry

from .base import DataError, RawSeries
from .formats import Option, SpecError, check_adjacency, reading
from .graphs import EDGE_WEIGHTS, count_edges, edge_list_adjacency, gaussian_kernel, haversine_km

GRAPH_KINDS: Registry[type] = Registry("graph kind")

#: steps of one window under the default protocol (load_raw fits span-dependent graphs for it)
DEFAULT_IN_STEPS = DEFAULT_OUT_STEPS = 12


@dataclass
class GraphInput:
    """What a graph builder gets.

    values:      (T, N) float series (NaN = missing); valid: (T, N) bool readings present.
    node_ids:    N ids (strings) in series order; files refer to nodes by these ids.
    options:     the checked ``graph:`` block.
    train_steps: the training span [0, train_steps) (correlation only).
    files:       {role: path} of the files the kind may read (``coords``, ``graph``).
    """

    name: str
    values: np.ndarray
    valid: np.ndarray
    node_ids: List[str]
    options: Dict[str, Any]
    train_steps: int
    files: Dict[str, Path] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.values.shape[1])

    def index_of(self, ids: Sequence[str], path: Path, what: str, first_line: int = 2) -> np.ndarray:
        """Node ids in a file -> indices; a DataError naming the file, line and id if unknown."""
        pos = {nid: i for i, nid in enumerate(self.node_ids)}
        out = np.empty(len(ids), dtype=np.int64)
        for k, nid in enumerate(ids):
            if nid not in pos:
                raise DataError(f"{path}: line {k + first_line}: unknown node {nid!r} in the {what} (not a "
                                f"node of the series; nodes: {_preview(self.node_ids)})")
            out[k] = pos[nid]
        return out


def _preview(ids: Sequence[str], k: int = 5) -> str:
    return ", ".join(map(str, ids[:k])) + (f", ... ({len(ids)} in all)" if len(ids) > k else "")


class GraphKind:
    """A registered builder. ``keys``: the ``graph:`` keys it reads (besides kind, symmetric,
    self_loops); ``file_role``: the file it reads, if any."""

    keys: tuple = ()
    file_role: Optional[str] = None
    uses_training_span = False
    symmetric_default = False
    self_loops_default: Optional[bool] = False

    def build(self, g: GraphInput) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


@GRAPH_KINDS.register("coords")
class CoordsGraph(GraphKind):
    """Gaussian kernel of the haversine distance between node coordinates (CSV: node, lat, lon)."""

    keys = ("sigma_km", "threshold")
    file_role = "coords"

    def build(self, g: GraphInput) -> np.ndarray:
        path = g.files["coords"]
        with reading(path, "coordinates CSV (header row; columns node, latitude, longitude)"):
            import pandas as pd

            df = pd.read_csv(path, dtype=str, skipinitialspace=True)
            if df.shape[1] < 3:
                raise DataError(f"{path}: coordinates need 3 columns node,latitude,longitude; got "
                                f"{list(df.columns)}")
            ids = [str(s).strip() for s in df.iloc[:, 0]]
            lat = pd.to_numeric(df.iloc[:, 1], errors="coerce").to_numpy(np.float64)
            lon = pd.to_numeric(df.iloc[:, 2], errors="coerce").to_numpy(np.float64)
        bad = ~(np.isfinite(lat) & np.isfinite(lon))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{path}: line {i + 2}: latitude/longitude of node {ids[i]!r} is not a number "
                            f"({df.iloc[i, 1]!r}, {df.iloc[i, 2]!r})")
        _no_duplicates(ids, path, "coordinates")
        idx = g.index_of(ids, path, "coordinates")
        missing = sorted(set(range(g.n)) - set(idx.tolist()))
        if missing:
            raise DataError(f"{path}: no coordinates for node {g.node_ids[missing[0]]!r} "
                            f"({len(missing)} node(s) missing)")
        la, lo = np.empty(g.n), np.empty(g.n)
        la[idx], lo[idx] = lat, lon
        o = g.options
        return gaussian_kernel(haversine_km(la, lo), sigma=o["sigma_km"], threshold=o["threshold"],
                               self_loops=True).astype(np.float64)


@GRAPH_KINDS.register("edges")
class EdgeListGraph(GraphKind):
    """Edge list CSV ``from,to[,cost]`` (header row) with node ids -> weighted adjacency."""

    keys = ("weight", "sigma", "threshold")
    file_role = "graph"
    symmetric_default = True

    def build(self, g: GraphInput) -> np.ndarray:
        import pandas as pd

        path, o = g.files["graph"], g.options
        with reading(path, "edge list CSV (header row; columns from, to[, cost])"):
            df = pd.read_csv(path, dtype=str, skipinitialspace=True)
        if df.shape[1] < 2:
            raise DataError(f"{path}: an edge list needs the columns from,to[,cost]; got {list(df.columns)}")
        if df.shape[1] < 3 and o["weight"] != "binary":
            raise DataError(f"{path}: graph.weight {o['weight']!r} needs a third (cost) column; the file has "
                            f"{list(df.columns)}")
        src = g.index_of([str(s).strip() for s in df.iloc[:, 0]], path, "edge list")
        dst = g.index_of([str(s).strip() for s in df.iloc[:, 1]], path, "edge list")
        if df.shape[1] >= 3:
            cost = pd.to_numeric(df.iloc[:, 2], errors="coerce").to_numpy(np.float64)
            bad = ~np.isfinite(cost)
            if bad.any():
                i = int(np.argmax(bad))
                raise DataError(f"{path}: line {i + 2}: cost {df.iloc[i, 2]!r} is not a finite number")
        else:
            cost = np.ones(len(src))
        # directed, no diagonal here: symmetric / self_loops are applied by build_graph
        return edge_list_adjacency(src, dst, cost, g.n, weight=o["weight"], symmetric=False,
                                   self_loops=False, sigma=o["sigma"], threshold=o["threshold"]
                                   ).astype(np.float64)


@GRAPH_KINDS.register("matrix")
class MatrixGraph(GraphKind):
    """Dense N x N matrix (CSV without / with a header row of node ids, or .npy)."""

    keys = ("matrix_header",)
    file_role = "graph"
    self_loops_default = None

    def build(self, g: GraphInput) -> np.ndarray:
        import pandas as pd

        path = g.files["graph"]
        header = g.options["matrix_header"]
        with reading(path, "adjacency matrix (N x N" + (", header row of node ids)" if header else ")")):
            if path.suffix.lower() == ".npy":
                a = np.load(path, allow_pickle=False)
                ids = None
            else:
                df = pd.read_csv(path, header=0 if header else None)
                ids = [str(c).strip() for c in df.columns] if header else None
                a = df.apply(pd.to_numeric, errors="raise").to_numpy(np.float64)
        a = np.asarray(check_adjacency(a, path), dtype=np.float64)
        if a.shape[0] != g.n:
            raise DataError(f"{path}: graph has {a.shape[0]} nodes but the series has {g.n}")
        if ids is not None:
            _no_duplicates(ids, path, "matrix header")
            idx = g.index_of(ids, path, "matrix header", first_line=1)
            out = np.zeros_like(a)
            out[np.ix_(idx, idx)] = a
            a = out
        return a


@GRAPH_KINDS.register("complete")
class CompleteGraph(GraphKind):
    """Every pair of distinct nodes linked with weight 1."""

    def build(self, g: GraphInput) -> np.ndarray:
        return 1.0 - np.eye(g.n)


@GRAPH_KINDS.register("correlation")
class CorrelationGraph(GraphKind):
    """Top-k / thresholded Pearson correlation over the training span (see the module docstring)."""

    keys = ("top_k", "min_corr", "absolute")
    uses_training_span = True
    symmetric_default = True

    def build(self, g: GraphInput) -> np.ndarray:
        o = g.options
        s = g.train_steps
        x, ok = g.values[:s].astype(np.float64), g.valid[:s]
        _check_not_constant(g, x, ok)
        r = pearson_pairwise(x, ok)
        w = np.abs(r) if o["absolute"] else r
        np.fill_diagonal(w, -np.inf)
        keep = w > 0
        if o["min_corr"] is not None:
            keep &= w >= o["min_corr"]
        if o["top_k"] is not None:
            if not 1 <= o["top_k"] <= g.n - 1:
                raise DataError(f"{g.name}: graph.top_k = {o['top_k']}, expected 1..{g.n - 1} "
                                f"(the data set has {g.n} nodes)")
            order = np.argsort(-np.where(keep, w, -np.inf), axis=1, kind="stable")[:, :o["top_k"]]
            top = np.zeros_like(keep)
            np.put_along_axis(top, order, True, axis=1)
            keep &= top
        return np.where(keep, w, 0.0)


@GRAPH_KINDS.register("none")
class NoGraph(GraphKind):
    """No graph: an all-zero matrix; WindowedData gives models ``meta.adj = None``."""

    self_loops_default = False

    def build(self, g: GraphInput) -> np.ndarray:
        return np.zeros((g.n, g.n))


def pearson_pairwise(x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """(T, N) values and (T, N) validity -> (N, N) Pearson r over each pair's common valid steps.

    r_ij = sum_t (x_ti - m_i)(x_tj - m_j) / sqrt(sum_t (x_ti - m_i)^2 sum_t (x_tj - m_j)^2),
    all sums over {t : ok_ti and ok_tj} and m_i, m_j the means over that same set (computed
    from the sums S_x, S_xx, S_xy, n_ij of node-centred values, so each pair needs no loop).
    Pairs with fewer than 2 common steps or no variance on them get r = 0.
    """
    m = ok.astype(np.float64)
    cnt = m.sum(0)
    mu = (np.where(ok, x, 0.0).sum(0) / np.maximum(cnt, 1.0))
    xc = np.where(ok, x - mu, 0.0)
    if ok.all():  # no missing value: the ordinary correlation matrix
        ss = np.sqrt((xc * xc).sum(0))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (xc.T @ xc) / np.outer(ss, ss)
        return np.clip(np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)
    n = m.T @ m                      # n_ij: common steps
    sx = xc.T @ m                    # sum of x_i over the steps where j is valid too
    sxx = (xc * xc).T @ m
    sxy = xc.T @ xc
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sxy - sx * sx.T / n
        vx = sxx - sx * sx / n
        vy = vx.T
        r = cov / np.sqrt(vx * vy)
    tiny = 1e-12 * np.maximum(sxx, sxx.T)
    r[(n < 2) | ~(vx > tiny) | ~(vy > tiny.T)] = 0.0
    return np.clip(np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0), -1.0, 1.0)


def _check_not_constant(g: GraphInput, x: np.ndarray, ok: np.ndarray) -> None:
    """Every node needs >= 2 valid, not all equal readings in the training span."""
    cnt = ok.sum(0)
    lo = np.where(ok, x, np.inf).min(0)
    hi = np.where(ok, x, -np.inf).max(0)
    bad = (cnt < 2) | ~(hi > lo)
    if bad.any():
        i = int(np.argmax(bad))
        what = (f"has {int(cnt[i])} valid reading(s)" if cnt[i] < 2
                else f"is constant ({lo[i]:g} at all {int(cnt[i])} valid steps)")
        raise DataError(f"{g.name}: graph.kind correlation: node {g.node_ids[i]!r} {what} in the training "
                        f"span (steps 0..{g.train_steps - 1}), so its correlation is undefined; drop the node "
                        f"(options.nodes) or use another graph.kind"
                        + (f" ({int(bad.sum())} such nodes)" if bad.sum() > 1 else ""))


def _no_duplicates(ids: Sequence[str], path: Path, what: str) -> None:
    seen = set()
    for k, nid in enumerate(ids):
        if nid in seen:
            raise DataError(f"{path}: node {nid!r} is listed twice in the {what} (line {k + 2})")
        seen.add(nid)


# ----------------------------------------------------------------------------- the YAML block

_COMMON = {
    "symmetric": Option(bool, None, doc="A -> max(A, A^T) (null: the kind's default)"),
    "self_loops": Option(bool, None, doc="diagonal 1 (true) / 0 (false); null: the kind's default"),
}
#: the whole graph: block, for formats that build their graph from it (wide_table, long_table)
GRAPH_OPTIONS: Dict[str, Option] = {
    "kind": Option(str, None, choices=tuple(GRAPH_KINDS.names())),
    **_COMMON,
    "sigma_km": Option(float, None, doc="coords: kernel width in km (null: std of the distances)"),
    "threshold": Option(float, 0.1, nullable=False, doc="coords / edges gaussian: weights below -> 0"),
    "weight": Option(str, "binary", choices=tuple(EDGE_WEIGHTS.names()), nullable=False),
    "sigma": Option(float, None, doc="edges gaussian: kernel width (null: std of the costs)"),
    "matrix_header": Option(bool, False, nullable=False, doc="matrix: the first row names the nodes"),
    "top_k": Option(int, None, doc="correlation: per node, keep the k most correlated others"),
    "min_corr": Option(float, None, doc="correlation: keep r >= min_corr"),
    "absolute": Option(bool, False, nullable=False, doc="correlation: rank |r| instead of r"),
}
#: the graph kinds a format with its own published graph may switch to (no file needed)
OVERRIDE_KINDS = tuple(k for k in GRAPH_KINDS.names() if GRAPH_KINDS.get(k).file_role is None)
OVERRIDE_OPTIONS: Dict[str, Option] = {
    "kind": Option(str, None, choices=OVERRIDE_KINDS),
    **_COMMON,
    **{k: GRAPH_OPTIONS[k] for k in CorrelationGraph.keys},
}


def declares_graph_block(fmt) -> bool:
    """True for a format that builds its graph from this block (declares ``graph.kind``)."""
    return "kind" in fmt.graph


def overrides(fmt, graph: Dict[str, Any]) -> bool:
    """True when a format's own graph is replaced by a ``graph: {kind: ...}`` from this module."""
    return not declares_graph_block(fmt) and isinstance(graph, dict) and graph.get("kind") is not None


def graph_schema(fmt, raw_graph: Any) -> Dict[str, Option]:
    """The ``graph:`` keys a YAML of format ``fmt`` may use, given its raw ``graph:`` block.

    The format's own keys; plus ``OVERRIDE_OPTIONS`` when the block names a ``kind`` that
    the format does not declare (so a YAML without ``kind`` resolves exactly as before).
    """
    if overrides(fmt, raw_graph if isinstance(raw_graph, dict) else {}):
        return {**OVERRIDE_OPTIONS, **fmt.graph}
    return fmt.graph


def check_graph_spec(fmt, spec: Dict[str, Any], where: str) -> None:
    """Cross-key rules of the ``graph:`` block; SpecError naming the file, key and expected value."""
    g = spec["graph"]
    if not (declares_graph_block(fmt) or overrides(fmt, g)):
        return
    kinds = GRAPH_OPTIONS["kind"].choices if declares_graph_block(fmt) else OVERRIDE_KINDS
    if g.get("kind") is None:
        raise SpecError(f"{where}: graph.kind is required for format {spec['format']}; valid choices: "
                        f"{', '.join(kinds)} (docs/own_data.md)")
    kind = GRAPH_KINDS.get(g["kind"])
    schema = GRAPH_OPTIONS if declares_graph_block(fmt) else OVERRIDE_OPTIONS
    own = set() if declares_graph_block(fmt) else set(fmt.graph)  # the format's keys: its business
    for key, opt in schema.items():
        if key == "kind" or key in _COMMON or key in kind.keys or key in own:
            continue
        if g.get(key) != opt.default:
            users = [k for k in kinds if key in GRAPH_KINDS.get(k).keys]
            raise SpecError(f"{where}: graph.{key} applies to graph.kind {' / '.join(users)}, not "
                            f"{g['kind']!r}; remove it or change graph.kind")
    if declares_graph_block(fmt):
        for role in ("coords", "graph"):
            if role not in fmt.files:
                continue
            if kind.file_role == role and role not in spec["files"]:
                raise SpecError(f"{where}: graph.kind {g['kind']} reads a {role} file; add files.{role}: "
                                f"{{path: ...}}")
            if kind.file_role != role and role in spec["files"]:
                raise SpecError(f"{where}: files.{role} is given but graph.kind {g['kind']} does not read it "
                                f"(only kind {'coords' if role == 'coords' else 'edges / matrix'} does)")
    if g["kind"] == "correlation":
        if g.get("top_k") is None and g.get("min_corr") is None:
            raise SpecError(f"{where}: graph.kind correlation needs graph.top_k (e.g. 3) and / or "
                            f"graph.min_corr (e.g. 0.5)")
        if g.get("top_k") is not None and g["top_k"] < 1:
            raise SpecError(f"{where}: graph.top_k: expected a positive integer, got {g['top_k']!r}")
        if g.get("min_corr") is not None and not -1.0 <= g["min_corr"] <= 1.0:
            raise SpecError(f"{where}: graph.min_corr: expected a number in [-1, 1], got {g['min_corr']!r}")
    if g.get("sigma_km") is not None and not g["sigma_km"] > 0:
        raise SpecError(f"{where}: graph.sigma_km: expected a positive number, got {g['sigma_km']!r}")
    if g.get("sigma") is not None and not g["sigma"] > 0:
        raise SpecError(f"{where}: graph.sigma: expected a positive number, got {g['sigma']!r}")
    if "threshold" in g and g["threshold"] is not None and g["threshold"] < 0:
        raise SpecError(f"{where}: graph.threshold: expected a number >= 0, got {g['threshold']!r}")


# ----------------------------------------------------------------------------- building

def training_span(num_steps: int, split: Sequence[float], in_steps: int = DEFAULT_IN_STEPS,
                  out_steps: int = DEFAULT_OUT_STEPS, anchors: Optional[dict] = None,
                  name: str = "") -> int:
    """Steps [0, S) covered by the training windows (inputs and targets), S returned.

    Ratio split: S = n_train - 1 + P + Q with n_train = round(r_train (T - P - Q + 1));
    explicit windows (anchors t = last input step): S = max(t_train) + 1 + Q.
    """
    if anchors is not None and "train" in anchors and len(anchors["train"]):
        return min(num_steps, int(np.max(anchors["train"])) + 1 + out_steps)
    from .protocol import split_counts

    n = num_steps - in_steps - out_steps + 1
    if n < 1:
        raise DataError(f"{name}: series has {num_steps} steps, shorter than one window ({in_steps} in + "
                        f"{out_steps} out), so it has no training span to fit the graph on")
    n_train = split_counts(n, split)[0]
    if n_train < 1:
        raise DataError(f"{name}: no training window ({n} windows, split {list(split)}) to fit the graph on")
    return n_train - 1 + in_steps + out_steps


def build_graph(g: GraphInput) -> tuple[np.ndarray, Dict[str, Any]]:
    """(adjacency (N, N) float32, record for ``RawSeries.extra["graph"]``) of ``g.options['kind']``."""
    o = g.options
    kind = GRAPH_KINDS.get(o["kind"])
    a = np.asarray(kind().build(g), dtype=np.float64)
    sym = o.get("symmetric")
    if (kind.symmetric_default if sym is None else sym):
        a = np.maximum(a, a.T)
    loops = o.get("self_loops")
    loops = kind.self_loops_default if loops is None else loops
    if loops is not None and o["kind"] != "none":
        np.fill_diagonal(a, 1.0 if loops else 0.0)
    src = g.files.get(kind.file_role) if kind.file_role else None
    adj = check_adjacency(a, src or Path(f"{g.name} graph.kind {o['kind']}"))
    rec: Dict[str, Any] = {"kind": o["kind"], "edges": count_edges(adj)}
    if kind.uses_training_span:
        rec["train_steps"] = int(g.train_steps)
    return adj, rec


def graph_input(raw: RawSeries, options: Dict[str, Any], train_steps: int,
                files: Optional[Dict[str, Path]] = None) -> GraphInput:
    ids = [str(i) for i in raw.node_ids] if raw.node_ids else [str(i) for i in range(raw.num_nodes)]
    return GraphInput(name=raw.name, values=raw.values, valid=raw.valid_mask(), node_ids=ids,
                      options=options, train_steps=train_steps, files=files or {})


def apply_override(fmt, spec: Dict[str, Any], raw: RawSeries) -> RawSeries:
    """Replace the format's own graph when the YAML says ``graph: {kind: ...}`` (see the docstring)."""
    g = spec["graph"]
    if not overrides(fmt, g):
        return raw
    opts = {**{k: o.default for k, o in OVERRIDE_OPTIONS.items()}, **g}
    span = (training_span(raw.num_steps, spec["split"], anchors=raw.extra.get("split_anchors"), name=raw.name)
            if GRAPH_KINDS.get(g["kind"]).uses_training_span else 0)
    raw.adj, rec = build_graph(graph_input(raw, opts, span))
    raw.extra = {**raw.extra, "graph": rec, "graph_options": opts}
    return raw


def refit_for_protocol(raw: RawSeries, in_steps: int, out_steps: int, split: Sequence[float]) -> RawSeries:
    """Rebuild a training-span graph (correlation) when this protocol's span differs from the fitted one."""
    rec = raw.extra.get("graph") or {}
    if "train_steps" not in rec or "graph_options" not in raw.extra:
        return raw
    span = training_span(raw.num_steps, split, in_steps, out_steps, raw.extra.get("split_anchors"), raw.name)
    if span != rec["train_steps"]:
        raw.adj, rec = build_graph(graph_input(raw, raw.extra["graph_options"], span))
        raw.extra = {**raw.extra, "graph": rec}
    return raw


def has_graph(raw: RawSeries) -> bool:
    """False for ``graph: {kind: none}`` (models get ``meta.adj = None``)."""
    return (raw.extra.get("graph") or {}).get("kind") != "none"
