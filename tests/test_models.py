"""Backbones: shapes, gradients, overfitting, determinism, large graphs, errors, published
sizes, equivalence with direct transcriptions of the official forward passes, graph
supports, model configs and the ``models`` CLI."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stbench.datasets.base import DatasetMeta
from stbench.models import build_model, count_params, model_config
from stbench.models import config as mconfig
from stbench.models.graph import (SUPPORTS, build_supports, grid_adjacency, largest_eigenvalue, scaled_laplacian,
                          transition_matrix)
from stbench.models.layers import Dropout, tod_index

NAMES = ["gwnet", "stgcn", "agcrn", "stid", "staeformer"]
DROPOUT_KEY = {"gwnet": "dropout", "stgcn": "droprate", "stid": "dropout", "staeformer": "dropout", "agcrn": None}


def random_adj(n: int, seed: int = 0, density: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = (rng.random((n, n)) < density) * rng.random((n, n))
    return (a + np.eye(n)).astype(np.float32)


def make_meta(n: int = 8, adj=None, steps_per_day: int = 288) -> DatasetMeta:
    return DatasetMeta(name="TEST", num_nodes=n, steps_per_day=steps_per_day,
                       adj=random_adj(n) if adj is None else adj)


def make_x(batch: int, meta: DatasetMeta, seed: int = 0) -> torch.Tensor:
    """(B, 12, N, 3): z-values, time of day k / steps_per_day, integer day of week."""
    g = torch.Generator().manual_seed(seed)
    B, P, N = batch, meta.in_steps, meta.num_nodes
    x = torch.empty(B, P, N, 3)
    x[..., 0] = torch.randn(B, P, N, generator=g)
    start = torch.randint(0, meta.steps_per_day, (B, 1, 1), generator=g)
    x[..., 1] = ((start + torch.arange(P).view(1, P, 1)) % meta.steps_per_day).float().expand(B, P, N) / meta.steps_per_day
    x[..., 2] = torch.randint(0, 7, (B, 1, 1), generator=g).float().expand(B, P, N)
    return x


def smoke(name: str, dropout_off: bool = False) -> dict:
    p = model_config(name, profile="smoke")["params"]
    if dropout_off and DROPOUT_KEY[name]:
        p[DROPOUT_KEY[name]] = 0.0
    return p


# ----------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("name", NAMES)
def test_output_shape_and_finite(name):
    meta = make_meta(8)
    torch.manual_seed(0)
    y = build_model(name, meta, **smoke(name))(make_x(2, meta))
    assert y.shape == (2, 12, 8, 1)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_every_parameter(name):
    meta = make_meta(8)
    torch.manual_seed(0)
    model = build_model(name, meta, **smoke(name, dropout_off=True))
    model.train()
    (model(make_x(4, meta)) - torch.randn(4, 12, 8, 1)).abs().mean().backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert not dead, f"{name}: no gradient for {dead}"


@pytest.mark.parametrize("name", NAMES)
def test_overfits_one_small_batch(name):
    meta = make_meta(6)
    torch.manual_seed(0)
    model = build_model(name, meta, **smoke(name, dropout_off=True))
    model.train()
    x, y = make_x(2, meta, seed=1), torch.randn(2, 12, 6, 1, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = last = None
    for _ in range(400):
        opt.zero_grad()
        loss = (model(x) - y).abs().mean()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
        last = loss.item()
        if last <= 0.1 * first:
            break
    assert last <= 0.1 * first, f"{name}: loss {first:.3f} -> {last:.3f} (needs a 90 % drop)"


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_gives_identical_outputs(name):
    meta = make_meta(8)
    x = make_x(3, meta)

    def run():
        torch.manual_seed(123)
        model = build_model(name, meta, **smoke(name))
        model.train()  # dropout active: its masks must repeat too
        return model(x)

    a, b = run(), run()
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_batch_size_one(name):
    meta = make_meta(8)
    torch.manual_seed(0)
    model = build_model(name, meta, **smoke(name))
    model.eval()
    x = make_x(3, meta)
    with torch.no_grad():
        one, many = model(x[:1]), model(x)
    assert one.shape == (1, 12, 8, 1)
    torch.testing.assert_close(one, many[:1], rtol=1e-4, atol=1e-5)
    model.train()  # training on a single sample (batch norm statistics over time and nodes)
    model(x[:1]).abs().mean().backward()


@pytest.mark.parametrize("name", NAMES)
def test_2000_node_grid_graph(name):
    meta = make_meta(2000, adj=grid_adjacency(40, 50))
    torch.manual_seed(0)
    model = build_model(name, meta, **smoke(name))
    model.eval()
    with torch.no_grad():
        y = model(make_x(1, meta))
    assert y.shape == (1, 12, 2000, 1) and torch.isfinite(y).all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(2, 12, 7, 3), (2, 12, 8, 2), (2, 12, 8, 1), (2, 11, 8, 3), (12, 8, 3)])
def test_wrong_input_shape_raises(name, shape):
    model = build_model(name, make_meta(8), **smoke(name))
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 12, 8, 3\)"):
        model(torch.zeros(shape))


def test_needs_a_graph_and_checks_its_shape():
    with pytest.raises(ValueError, match="gwnet: needs a graph"):
        build_model("gwnet", DatasetMeta(name="T", num_nodes=5, adj=None), **smoke("gwnet"))
    with pytest.raises(ValueError, match=r"stgcn: adjacency must have shape \(5, 5\)"):
        build_model("stgcn", DatasetMeta(name="T", num_nodes=5, adj=np.eye(4)), **smoke("stgcn"))


def test_build_model_rejects_unknown_params():
    with pytest.raises(ValueError, match="unknown parameter.*hidden.*valid:.*rnn_units"):
        build_model("agcrn", make_meta(8), hidden=3)
    with pytest.raises(KeyError, match="valid choices"):
        build_model("nope", make_meta(8))


# ----------------------------------------------------------------------------- published sizes

# (model, data set, nodes, our exact count, official-layout count, published figure).
# The official code also allocates parameters it never uses (GWNet: the residual 1x1 convs
# and the last layer's graph conv / BN; STGCN: 1x1 align convs when c_in <= c_out); we do
# not build them, and published counts include them.
PUBLISHED = [
    ("gwnet", "METR-LA", 207, 293_688, 309_400, 0.31e6),
    ("stgcn", "METR-LA", 207, 231_244, 246_028, 0.25e6),
    ("agcrn", "METR-LA", 207, 751_650, 751_650, 0.75e6),
    ("agcrn", "PEMS08", 170, 150_880, 150_880, 0.15e6),
    ("stid", "METR-LA", 207, 117_868, 117_868, 0.12e6),
    ("staeformer", "METR-LA", 207, 1_258_980, 1_258_980, 1.3e6),  # published "about 1.2-1.4 M"
]


@pytest.mark.parametrize("name,dataset,n,ours,official,published", PUBLISHED)
def test_parameter_counts_match_published(name, dataset, n, ours, official, published):
    model = build_model(name, make_meta(n), **model_config(name, dataset=dataset)["params"])
    assert count_params(model) == ours
    assert count_params(model) + getattr(model, "official_unused_params", lambda: 0)() == official
    tol = 0.1 if name == "staeformer" else 0.02   # STAEformer: the published range 1.2-1.4 M
    assert abs(official - published) / published <= tol


# ----------------------------------------------------------------------------- official forwards
# Direct transcriptions of the official forward passes (BasicTS / official repositories:
# per-support loops, einsum layouts, per-call graph and weight construction), evaluated with
# our models' parameters: the fast implementations must compute the same function.


def gwnet_reference(m, x):
    x = x[..., : m.in_dim].transpose(1, 3)                                    # (B, C, N, L)
    x = F.pad(x, (m.receptive_field - x.shape[-1], 0))
    x = F.conv2d(x, m.start_conv.weight, m.start_conv.bias)
    adp = torch.softmax(torch.relu(m.nodevec1 @ m.nodevec2), dim=1)
    supports = [m.supports[0].t(), m.supports[1].t(), adp]                     # BasicTS passes P^T
    skip = None
    for i, d in enumerate(m.dilations):
        residual = x
        fw, gw = m.filter_convs[i], m.gate_convs[i]
        x = torch.tanh(F.conv2d(x, fw.weight.transpose(2, 3), fw.bias, dilation=(1, d))) * \
            torch.sigmoid(F.conv2d(x, gw.weight.transpose(2, 3), gw.bias, dilation=(1, d)))
        s = F.conv2d(x, m.skip_convs[i].weight, m.skip_convs[i].bias)
        skip = s if skip is None else s + skip[..., -s.shape[3]:]
        if i == len(m.dilations) - 1:
            break
        out = [x]
        for a in supports:
            x1 = torch.einsum("ncvl,vw->ncwl", x, a)
            x2 = torch.einsum("ncvl,vw->ncwl", x1, a)
            out += [x1, x2]
        g = m.gconv[i].mlp
        x = F.conv2d(torch.cat(out, 1), g.weight, g.bias) + residual[..., -x.shape[3]:]
        bn = m.bn[i]
        x = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    x = torch.relu(F.conv2d(torch.relu(skip), m.end_conv_1.weight, m.end_conv_1.bias))
    return F.conv2d(x, m.end_conv_2.weight, m.end_conv_2.bias)


def _stgcn_align(al, x):
    if al.c_in > al.c_out:
        return F.conv2d(x, al.conv.weight, al.conv.bias)
    if al.c_in < al.c_out:
        return torch.cat([x, x.new_zeros(x.shape[0], al.c_out - al.c_in, *x.shape[2:])], 1)
    return x


def _stgcn_tconv(tc, x):
    x_in = _stgcn_align(tc.align, x)[:, :, tc.kt - 1:, :]
    y = F.conv2d(x, tc.conv.weight, tc.conv.bias)
    return (y[:, : tc.c_out] + x_in) * torch.sigmoid(y[:, -tc.c_out:])


#: hazdzz/STGCN models/layers.py: nn.LayerNorm([n_vertex, channels], eps=1e-12)
OFFICIAL_STGCN_LN_EPS = 1e-12


def _stgcn_ln(ln, x):
    """The official LayerNorm with the module's affine weights but the official eps."""
    return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, OFFICIAL_STGCN_LN_EPS)


def stgcn_reference(m, x):
    gso = m.gso_t.t()
    x = x[..., : m.in_dim].permute(0, 3, 1, 2)                                # (B, C, T, N)
    for blk in m.st_blocks:
        x = _stgcn_tconv(blk.tmp_conv1, x)
        x_gc_in = _stgcn_align(blk.graph_align, x)
        h = x_gc_in.permute(0, 2, 3, 1)
        terms = [h, torch.einsum("hi,btij->bthj", gso, h)]
        for _ in range(2, blk.cheb.ks):
            terms.append(torch.einsum("hi,btij->bthj", 2 * gso, terms[-1]) - terms[-2])
        gc = torch.einsum("btkhi,kij->bthj", torch.stack(terms, 2), blk.cheb.weight) + blk.cheb.bias
        x = torch.relu(gc.permute(0, 3, 1, 2) + x_gc_in)
        x = _stgcn_tconv(blk.tmp_conv2, x)
        x = _stgcn_ln(blk.ln, x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    o = m.output
    x = _stgcn_ln(o.ln, _stgcn_tconv(o.tmp_conv1, x).permute(0, 2, 3, 1))
    x = o.fc2(torch.relu(o.fc1(x))).permute(0, 3, 1, 2)                        # (B, Q, 1, N)
    return x.transpose(2, 3)


def agcrn_reference(m, x):
    E = m.node_embeddings

    def avwgcn(g, inp):                                                        # inp (B, N, C)
        s = torch.softmax(torch.relu(E @ E.t()), dim=1)
        sup = [torch.eye(E.shape[0]), s]
        for _ in range(2, m.cheb_k):
            sup.append(2 * s @ sup[-1] - sup[-2])
        w = torch.einsum("nd,dkio->nkio", E, g.weights_pool)
        xg = torch.einsum("knm,bmc->bknc", torch.stack(sup), inp).permute(0, 2, 1, 3)
        return torch.einsum("bnki,nkio->bno", xg, w) + E @ g.bias_pool

    cur = x[..., : m.input_dim]
    for layer in m.layers:
        H = layer.hidden
        h = cur.new_zeros(cur.shape[0], cur.shape[2], H)
        outs = []
        for t in range(cur.shape[1]):
            z, r = torch.split(torch.sigmoid(avwgcn(layer.gate, torch.cat([cur[:, t], h], -1))), H, -1)
            c = torch.tanh(avwgcn(layer.update, torch.cat([cur[:, t], z * h], -1)))
            h = r * h + (1 - r) * c
            outs.append(h)
        cur = torch.stack(outs, 1)
    y = F.conv2d(cur[:, -1:], m.end_conv.weight, m.end_conv.bias)              # (B, Q*C, N, 1)
    B, _, N, _ = y.shape
    return y.squeeze(-1).reshape(B, m.out_steps, m.output_dim, N).permute(0, 1, 3, 2)


def staeformer_reference(m, x):
    def attention(layer, h, dim):
        h = h.transpose(dim, -2)
        a = layer.attn
        B, hd = h.shape[0], h.shape[-1] // a.heads
        q, k, v = (torch.cat(torch.split(f(h), hd, dim=-1), dim=0) for f in (a.FC_Q, a.FC_K, a.FC_V))
        o = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5, dim=-1) @ v
        o = a.out_proj(torch.cat(torch.split(o, B, dim=0), dim=-1))
        h = layer.ln1(h + o)
        h = layer.ln2(h + layer.feed_forward(h))
        return h.transpose(dim, -2)

    B = x.shape[0]
    feats = [m.input_proj(x[..., : m.input_dim]), m.tod_embedding(tod_index(x[..., 1], m.steps_per_day)),
             m.dow_embedding(x[..., 2].long()), m.adaptive_embedding.expand(B, *m.adaptive_embedding.shape)]
    h = torch.cat(feats, -1)
    for layer in m.attn_layers_t:
        h = attention(layer, h, 1)
    for layer in m.attn_layers_s:
        h = attention(layer, h, 2)
    out = m.output_proj(h.transpose(1, 2).reshape(B, m.num_nodes, -1))
    return out.view(B, m.num_nodes, m.out_steps, m.output_dim).transpose(1, 2)


REFERENCES = {"gwnet": gwnet_reference, "stgcn": stgcn_reference, "agcrn": agcrn_reference,
              "staeformer": staeformer_reference}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_matches_official_forward(name):
    meta = make_meta(9)
    torch.manual_seed(0)
    model = build_model(name, meta, **smoke(name))
    if name == "gwnet":  # non-trivial batch-norm statistics
        model.train()
        model(make_x(4, meta, seed=3))
    model.eval()
    x = make_x(3, meta)
    with torch.no_grad():
        torch.testing.assert_close(model(x), REFERENCES[name](model, x), rtol=1e-4, atol=1e-5)


def test_stgcn_layernorm_eps_is_the_official_one():
    """In float64 the reference (eps 1e-12) separates the official eps from torch's 1e-5."""
    meta = make_meta(9)
    x = make_x(3, meta).double()
    torch.manual_seed(0)
    model = build_model("stgcn", meta, **smoke("stgcn")).double().eval()
    assert model.st_blocks[0].ln.eps == model.output.ln.eps == 1e-12
    with torch.no_grad():
        torch.testing.assert_close(model(x), stgcn_reference(model, x), rtol=1e-9, atol=1e-11)
        old = build_model("stgcn", meta, **{**smoke("stgcn"), "layernorm_eps": 1e-5}).double().eval()
        old.load_state_dict(model.state_dict())
        assert not torch.allclose(old(x), stgcn_reference(old, x), rtol=1e-9, atol=1e-11)
    params = dict(smoke("stgcn"))
    params.pop("layernorm_eps")  # a recorded config without the key builds torch's default
    assert build_model("stgcn", meta, **params).output.ln.eps == 1e-5


# ----------------------------------------------------------------------------- small parts


def test_graph_supports():
    a = random_adj(12, seed=3)
    a[5] = 0.0  # a node without out-edges keeps a zero row
    p = transition_matrix(a)
    sums = p.sum(1)
    assert np.allclose(np.delete(sums, 5), 1.0) and sums[5] == 0.0
    both = build_supports("double_transition", a, 12, "t")
    assert both.shape == (2, 12, 12) and np.allclose(both[1], transition_matrix(a.T))
    lt = scaled_laplacian(a)
    eig = np.linalg.eigvalsh(lt.astype(np.float64))
    assert np.allclose(lt, lt.T, atol=1e-6) and eig.min() >= -1 - 1e-5 and eig.max() <= 1 + 1e-5
    assert abs(eig.max() - 1.0) < 1e-4  # rescaled by the computed lambda_max
    assert sorted(SUPPORTS.names()) == ["double_transition", "identity", "scaled_laplacian",
                                        "sym_norm_laplacian", "transition"]
    with pytest.raises(ValueError, match="t: unknown graph support 'bogus'; valid choices"):
        build_supports("bogus", a, 12, "t")
    with pytest.raises(ValueError, match="NaN"):
        build_supports("transition", np.full((2, 2), np.nan), 2, "t")


def test_grid_adjacency_and_eigenvalue_paths():
    a = grid_adjacency(6, 5)
    assert a.shape == (30, 30) and a.sum() == 2 * (6 * 4 + 5 * 5) and np.array_equal(a, a.T)
    lap = np.eye(60) - scaled_laplacian(random_adj(60, seed=4)).astype(np.float64)
    assert abs(largest_eigenvalue(lap, dense_max=10) - largest_eigenvalue(lap)) < 1e-6  # ARPACK == dense


def test_tod_index_is_exact_on_the_grid():
    k = torch.arange(288)
    assert torch.equal(tod_index((k.float() / 288).float(), 288), k)
    assert tod_index(torch.tensor([0.9999, -0.1]), 288).tolist() == [287, 0]


def test_dropout_layer():
    torch.manual_seed(0)
    d = Dropout(0.3)
    x = torch.ones(200_000)
    y = d(x)
    assert abs((y == 0).float().mean().item() - 0.3) < 0.01 and abs(y.mean().item() - 1.0) < 0.02
    d.eval()
    assert torch.equal(d(x), x)
    with pytest.raises(ValueError):
        Dropout(1.0)


# ----------------------------------------------------------------------------- configs


@pytest.mark.parametrize("name", NAMES)
def test_config_files_have_all_sections(name):
    data = mconfig.load_model_file(name)
    assert set(data["profiles"]) == {"smoke", "cpu", "paper"}
    assert {"optimizer", "lr", "weight_decay", "milestones", "gamma", "clip", "batch_size"} <= set(data["train"])
    for prof in ("smoke", "cpu", "paper"):
        model_config(name, profile=prof)  # every profile resolves and its params are accepted


def test_model_config_merges_in_order():
    base = model_config("agcrn")
    assert base["params"]["embed_dim"] == 10 and base["train"]["lr"] == 0.003
    assert model_config("agcrn", dataset="PEMS08")["params"]["embed_dim"] == 2
    assert model_config("agcrn", dataset="pems08")["params"]["embed_dim"] == 2   # case-insensitive
    assert model_config("agcrn", dataset="METR-LA")["params"]["embed_dim"] == 10
    # profile > data set
    assert model_config("agcrn", dataset="PEMS08", profile="smoke")["params"]["embed_dim"] == 4
    assert model_config("agcrn", profile="paper") == base
    assert model_config("gwnet", profile="cpu")["params"]["residual_channels"] == 8  # configs/models/gwnet.yaml profiles.cpu (published: 32)
    assert model_config("stid")["train"]["milestones"] == [1, 50, 80]


def _write(tmp_path, name, text):
    (tmp_path / f"{name}.yaml").write_text(text)


def test_model_config_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(mconfig, "CONFIG_DIR", tmp_path)
    base = "params: {rnn_units: 4}\ntrain: {lr: 0.1, batch_size: 8}\n"
    _write(tmp_path, "agcrn", base + "profiles: {smoke: {params: {hidden: 2}}}\n")
    with pytest.raises(ValueError, match=r"agcrn.yaml: profiles.smoke.params: unknown key 'hidden'; valid keys: rnn_units"):
        model_config("agcrn", profile="smoke")
    with pytest.raises(ValueError, match=r"agcrn.yaml: unknown profile 'fast'; valid profiles: smoke"):
        model_config("agcrn", profile="fast")
    _write(tmp_path, "agcrn", base + "datasets: {PEMS08: {train: {epochs: 3}}}\n")
    with pytest.raises(ValueError, match=r"datasets.PEMS08.train: unknown key 'epochs'; valid keys: batch_size, lr"):
        model_config("agcrn", dataset="PEMS08")
    _write(tmp_path, "agcrn", base + "datasets: {PEMS08: {model: {}}}\n")
    with pytest.raises(ValueError, match=r"datasets.PEMS08: unknown key\(s\) model; valid keys: params, train"):
        model_config("agcrn", dataset="PEMS08")
    _write(tmp_path, "agcrn", base + "extra: 1\n")
    with pytest.raises(ValueError, match=r"agcrn.yaml: unknown top-level key\(s\) extra"):
        model_config("agcrn")
    _write(tmp_path, "agcrn", "params: {rnn_unit: 4}\ntrain: {lr: 0.1}\n")
    with pytest.raises(ValueError, match=r"agcrn.yaml: params: rnn_unit not accepted by model 'agcrn'"):
        model_config("agcrn")
    with pytest.raises(ValueError, match=r"no model config .*nope.yaml; available: agcrn"):
        model_config("nope")


# ----------------------------------------------------------------------------- CLI


def _cli(argv):
    from stbench.benchmarks.cli import main

    buf, err = io.StringIO(), io.StringIO()
    with redirect_stdout(buf), redirect_stderr(err):
        rc = main(argv)
    return rc, buf.getvalue() + err.getvalue()


def test_cli_info_and_list(tmp_path):
    rc, out = _cli(["models", "info", "agcrn", "--dataset", "PEMS08", "--data-root", str(tmp_path), "--json"])
    info = json.loads(out)
    assert rc == 0 and info["params"] == 150_880 and info["settings"]["params"]["embed_dim"] == 2
    assert info["meta"]["num_nodes"] == 170 and info["meta"]["source"].startswith("identity")
    rc, out = _cli(["models", "info", "gwnet", "--dataset", "METR-LA", "--profile", "smoke",
                    "--data-root", str(tmp_path), "--json"])
    assert rc == 0 and json.loads(out)["settings"]["params"]["residual_channels"] == 8
    rc, out = _cli(["models", "list", "--json"])
    assert rc == 0 and {r["name"] for r in json.loads(out)} == set(NAMES)
    rc, out = _cli(["models", "info", "gwnet", "--dataset", "NOWHERE", "--data-root", str(tmp_path)])
    assert rc == 2 and "unknown data set 'NOWHERE'" in out


@pytest.mark.realdata
def test_cli_info_reads_the_real_graph(real_data_root):
    if not (real_data_root / "METR-LA" / "adj_mx.pkl").is_file():
        pytest.skip("METR-LA graph file not under the data root")
    rc, out = _cli(["models", "info", "stgcn", "--dataset", "METR-LA", "--data-root", str(real_data_root), "--json"])
    info = json.loads(out)
    assert rc == 0 and info["params"] == 231_244 and "adj_mx.pkl" in info["meta"]["source"]


def test_gwnet_sparse_supports_match_dense():
    """Without the adaptive adjacency a sparse grid graph runs on CSR matmuls: same outputs and grads."""
    meta = make_meta(400, adj=grid_adjacency(20, 20))  # density 1.2 %
    torch.manual_seed(0)
    model = build_model("gwnet", meta, **{**smoke("gwnet"), "adaptive_adj": False, "dropout": 0.0})
    assert model._sparse and model.graph_supports_t()[0].layout == torch.sparse_csr
    x = make_x(4, meta)
    y_sparse = model(x)
    g_sparse = torch.autograd.grad(y_sparse.square().sum(), model.start_conv.weight)[0]
    model._sparse = False  # same weights, dense (N, N) matmuls
    y_dense = model(x)
    g_dense = torch.autograd.grad(y_dense.square().sum(), model.start_conv.weight)[0]
    torch.testing.assert_close(y_sparse, y_dense, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g_sparse, g_dense, rtol=1e-4, atol=1e-5)
