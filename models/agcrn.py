"""AGCRN (Bai et al., NeurIPS 2020; official code LeiBAI/AGCRN, BasicTS).

Node-adaptive graph convolution (AVWGCN) inside GRU cells:

    S   = softmax(relu(E E^T), dim=1)                  data-adaptive graph, E (N, d)
    T_0 = I, T_1 = S, T_k = 2 S T_{k-1} - T_{k-2}      cheb_k terms
    W_n = E_n . W_pool  (d, K, C_in, C_out) -> (K, C_in, C_out) per node n
    b_n = E_n . b_pool  (d, C_out)
    g(x)_n = sum_k (T_k x)_n W_n[k] + b_n              node-adaptive parameters

    GRU cell on [x_t, h]:  z, r = split(sigmoid(g_gate([x_t, h])))
                           c = tanh(g_update([x_t, z * h]))
                           h = r * h + (1 - r) * c          (the official update rule)

Two stacked layers of ``rnn_units``; the last layer's final state (B, N, H) is mapped
by the convolutional output layer, a Conv2d(1, Q, kernel (1, H)) i.e. a shared
H -> Q linear map per node, to (B, Q, N, 1).

Speed (exactly the same function): the graph S, its Chebyshev terms and the
per-node weights W_n are built once per forward (the official code rebuilds them
in every gate call, twice per step and layer); the recurrence runs node-major
(N, B, C), so graph products are single (N, N) x (N, B*C) matmuls and the
node-adaptive weights are batched matmuls over nodes; since g is linear in its
input, g([x, h]) is computed as g_x(x) + g_h(h) with the pools pre-split, so no
per-step concatenation is needed; weights are split once before the time loop
(indexing inside the loop makes autograd allocate a full-size zero gradient per step).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import STModel, register_model


class AVWGCN(nn.Module):
    """Weight/bias pools of one node-adaptive graph convolution (C_in = x dims + h dims)."""

    def __init__(self, dim_in: int, dim_out: int, cheb_k: int, embed_dim: int):
        super().__init__()
        self.weights_pool = nn.Parameter(torch.empty(embed_dim, cheb_k, dim_in, dim_out))
        self.bias_pool = nn.Parameter(torch.empty(embed_dim, dim_out))

    def node_weights(self, emb: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        """Per-node weights for input channels [lo, hi): (K, N, hi - lo, C_out)."""
        return torch.einsum("nd,dkio->knio", emb, self.weights_pool[:, :, lo:hi])

    def node_bias(self, emb: torch.Tensor) -> torch.Tensor:
        return emb @ self.bias_pool                                        # (N, C_out)


def graph_conv(base: torch.Tensor, x: torch.Tensor, cheb: torch.Tensor, w: Sequence[torch.Tensor]) -> torch.Tensor:
    """base + sum_k (T_k x) W_k per node, node-major.

    base (N, M, O), x (N, M, C), cheb (K-1, N, N) = [T_1..T_{K-1}], w: K tensors (N, C, O)
    (pre-split, so autograd does not build a full-size zero gradient per indexing).
    T_0 = I, so the k = 0 term is x W_0; each term is one batched matmul over nodes.
    """
    N, M, C = x.shape
    out = torch.baddbmm(base, x, w[0])
    if len(w) > 1:
        tx = torch.matmul(cheb, x.reshape(N, M * C)).view(-1, N, M, C).unbind(0)  # K-1 x (N, M, C)
        for k, t in enumerate(tx, 1):
            out = torch.baddbmm(out, t, w[k])
    return out


class AGCRNLayer(nn.Module):
    """One recurrent layer: GRU cell with AVWGCN gates, run over a whole sequence."""

    def __init__(self, dim_in: int, hidden: int, cheb_k: int, embed_dim: int):
        super().__init__()
        self.dim_in, self.hidden = dim_in, hidden
        self.gate = AVWGCN(dim_in + hidden, 2 * hidden, cheb_k, embed_dim)
        self.update = AVWGCN(dim_in + hidden, hidden, cheb_k, embed_dim)

    def forward(self, xs: Sequence[torch.Tensor], emb: torch.Tensor, cheb: torch.Tensor) -> list:
        """xs: T tensors (N, B, I) node-major -> T hidden states (N, B, H)."""
        H, I = self.hidden, self.dim_in
        N, B, _ = xs[0].shape
        wgx, wux = self.gate.node_weights(emb, 0, I).unbind(0), self.update.node_weights(emb, 0, I).unbind(0)
        wg, wu = self.gate.node_weights(emb, I, I + H).unbind(0), self.update.node_weights(emb, I, I + H).unbind(0)
        bg = self.gate.node_bias(emb).unsqueeze(1).expand(N, B, 2 * H)
        bu = self.update.node_bias(emb).unsqueeze(1).expand(N, B, H)
        h = xs[0].new_zeros(N, B, H)
        out = []
        for x in xs:
            z, r = torch.sigmoid(graph_conv(graph_conv(bg, x, cheb, wgx), h, cheb, wg)).split(H, -1)
            c = torch.tanh(graph_conv(graph_conv(bu, x, cheb, wux), z * h, cheb, wu))
            h = r * h + (1.0 - r) * c
            out.append(h)
        return out


@register_model("agcrn")
class AGCRN(STModel):
    """Adaptive Graph Convolutional Recurrent Network; see the module docstring."""

    def __init__(self, meta, input_dim: int = 2, rnn_units: int = 64, num_layers: int = 2, cheb_k: int = 2,
                 embed_dim: int = 10, output_dim: int = 1):
        super().__init__(meta)
        if not 1 <= input_dim <= self.in_channels:
            raise ValueError(f"agcrn: input_dim must be in 1..{self.in_channels}, got {input_dim}")
        if cheb_k < 1 or num_layers < 1:
            raise ValueError(f"agcrn: cheb_k and num_layers must be >= 1, got {cheb_k}, {num_layers}")
        self.input_dim, self.output_dim, self.cheb_k = input_dim, output_dim, cheb_k
        self.node_embeddings = nn.Parameter(torch.randn(self.num_nodes, embed_dim))
        self.layers = nn.ModuleList(
            AGCRNLayer(input_dim if i == 0 else rnn_units, rnn_units, cheb_k, embed_dim) for i in range(num_layers))
        self.end_conv = nn.Conv2d(1, self.out_steps * output_dim, kernel_size=(1, rnn_units))
        for p in self.parameters():  # the official initialisation
            nn.init.xavier_uniform_(p) if p.dim() > 1 else nn.init.uniform_(p)

    def chebyshev(self) -> torch.Tensor:
        """(K-1, N, N): T_1 = S, T_k = 2 S T_{k-1} - T_{k-2} of the adaptive graph S."""
        e = self.node_embeddings
        s = F.softmax(F.relu(e @ e.t()), dim=1)
        terms = [torch.eye(self.num_nodes, device=e.device, dtype=e.dtype), s]
        for _ in range(2, self.cheb_k):
            terms.append(2.0 * s @ terms[-1] - terms[-2])
        return torch.stack(terms[1: self.cheb_k]) if self.cheb_k > 1 else s.new_zeros(0, *s.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        B = x.shape[0]
        hs = x[..., : self.input_dim].permute(1, 2, 0, 3).unbind(0)       # T x (N, B, I)
        cheb = self.chebyshev()
        for layer in self.layers:
            hs = layer(hs, self.node_embeddings, cheb)
        last = hs[-1]                                                     # (N, B, H)
        w = self.end_conv.weight.reshape(self.end_conv.out_channels, -1)
        y = F.linear(last, w, self.end_conv.bias)                         # (N, B, Q*C)
        return y.reshape(self.num_nodes, B, self.out_steps, self.output_dim).permute(1, 2, 0, 3)
