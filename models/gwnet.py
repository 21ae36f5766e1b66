"""Graph WaveNet (Wu et al., IJCAI 2019; official code nnzhan/Graph-WaveNet, BasicTS).

Layout, on (B, C, L, N) tensors (the official code uses (B, C, N, L); same function):

    x = start_conv(x[..., :in_dim])                      1x1 conv, in_dim -> R
    for each of blocks x layers (dilation 1, 2, 1, 2, ... for kernel 2, layers 2):
        h = tanh(W_f *_d x) * sigmoid(W_g *_d x)       gated dilated TCN, R -> D
        skip += W_s h                                   1x1 conv, D -> S
        x = BN(GCN(h) + x[..., -L':])                   diffusion graph conv, D -> R
    y = W_2 relu(W_1 relu(skip))                        S -> E -> out_steps

GCN(h) = Dropout(W [h, A_1 h, A_1^2 h, ..., A_S h, A_S^2 h] + b) with supports
A in {P_f = D^-1 A, P_b = D^-1 A^T, Ã^T}, where Ã = softmax(relu(E_1 E_2), dim=1)
is the adaptive adjacency from 10-d node embeddings E_1 (N, 10), E_2 (10, N) and
``(A h)_i = sum_j A_ij h_j`` (BasicTS passes P^T to an einsum over the first index,
which is P h; the adaptive matrix goes in untransposed, i.e. Ã^T h). Inputs shorter
than the receptive field (13 steps) are zero-padded on the left, as in the official code.

Faithful to the official computation; two things the official code allocates but
never uses are not built (every parameter here receives a gradient):
the 1x1 ``residual_convs`` (used only when the graph conv is off) and the last
layer's graph conv and batch norm (its output x is discarded; only skip is used).
``official_unused_params()`` counts them, for comparison with published counts.

Speed (the same function up to float rounding; tests compare with the official
forward): nodes are the last axis, so a support is one (B C L, N) x (N, N) matmul
with no permutes; the channel map of GCN commutes with the node maps, so
W [h, A h, A^2 h, ...] is evaluated as W_0 h + sum_s A_s (W_s1 h + A_s W_s2 h)
(Horner) with no (1 + S K) C-channel concatenation; 1x1 convolutions are batched
matmuls (``layers.conv1x1``); filter and gate convolutions are one conv; skip
convolutions run only on the last step, the only one that reaches the output
(the official code computes them for every step and slices; with inputs of at most
13 steps the result is identical, longer inputs forecast from their last step).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import STModel, register_model
from .graph import build_supports
from .layers import Conv1x1, Dropout, conv1x1


SPARSE_DENSITY = 0.05  # fixed supports sparser than this (and no adaptive one) use sparse matmuls


def node_mm(h: torch.Tensor, a_t: torch.Tensor) -> torch.Tensor:
    """A applied over the node axis of h (B, C, L, N): ``h @ A^T``.

    ``a_t`` is either the dense (N, N) A^T, or a sparse CSR A itself (then
    ``(A h^T)^T``: O(edges) per row instead of O(N^2)).
    """
    if a_t.layout == torch.strided:
        return h @ a_t
    B, C, L, N = h.shape
    return (a_t @ h.reshape(-1, N).t().contiguous()).t().reshape(B, C, L, N)


class DiffusionConv(nn.Module):
    """h -> Dropout(W [h, A_1 h, ..., A_1^K h, ..., A_S^K h] + b); W a 1x1 conv over channels.

    Computed as W_0 h + b + sum_s A_s (W_s1 h + A_s (W_s2 h + ...)) (Horner): the channel
    maps W_sk (column blocks of W) commute with the node maps A_s, so no (1 + S K) C-channel
    concatenation is built and each support costs K matmuls.
    """

    def __init__(self, c_in: int, c_out: int, num_supports: int, order: int, dropout: float):
        super().__init__()
        self.order, self.c_out = order, c_out
        self.mlp = Conv1x1((order * num_supports + 1) * c_in, c_out)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, supports_t: torch.Tensor) -> torch.Tensor:
        """x (B, C, L, N), supports_t: S dense A_s^T (N, N) or sparse A_s -> (B, c_out, L, N)."""
        C, K, co = x.shape[1], self.order, self.c_out
        w = self.mlp.weight.view(co, -1, C, 1, 1).unbind(1)                # 1+SK blocks (co, C, 1, 1)
        out = conv1x1(x, w[0], self.mlp.bias)
        for s, a_t in enumerate(supports_t):
            acc = node_mm(conv1x1(x, w[1 + s * K + K - 1]), a_t)
            for k in range(K - 2, -1, -1):
                acc = node_mm(acc + conv1x1(x, w[1 + s * K + k]), a_t)
            out = out + acc
        return self.dropout(out)


@register_model("gwnet")
class GWNet(STModel):
    """Graph WaveNet; see the module docstring for the layout and formulas."""

    def __init__(self, meta, in_dim: int = 2, residual_channels: int = 32, dilation_channels: int = 32,
                 skip_channels: int = 256, end_channels: int = 512, kernel_size: int = 2, blocks: int = 4,
                 layers: int = 2, dropout: float = 0.3, adaptive_adj: bool = True, apt_dim: int = 10,
                 gcn_order: int = 2, supports: str = "double_transition"):
        super().__init__(meta)
        if not 1 <= in_dim <= self.in_channels:
            raise ValueError(f"gwnet: in_dim must be in 1..{self.in_channels}, got {in_dim}")
        self.in_dim, self.kernel_size = in_dim, kernel_size
        fixed = build_supports(supports, meta.adj, self.num_nodes, "gwnet") if supports else np.zeros((0, self.num_nodes, self.num_nodes), np.float32)
        self.register_buffer("supports", torch.from_numpy(fixed))
        self.adaptive_adj = bool(adaptive_adj)
        density = float((fixed != 0).mean()) if fixed.size else 1.0
        self._sparse = not self.adaptive_adj and density < SPARSE_DENSITY
        self._sparse_cache = None
        n_sup = fixed.shape[0] + int(self.adaptive_adj)
        if n_sup == 0:
            raise ValueError("gwnet: needs at least one support (supports or adaptive_adj)")
        if self.adaptive_adj:
            self.nodevec1 = nn.Parameter(torch.randn(self.num_nodes, apt_dim))
            self.nodevec2 = nn.Parameter(torch.randn(apt_dim, self.num_nodes))

        self.start_conv = Conv1x1(in_dim, residual_channels)
        self.dilations = [2 ** i for _ in range(blocks) for i in range(layers)]
        n = len(self.dilations)
        self.filter_convs = nn.ModuleList(
            nn.Conv2d(residual_channels, dilation_channels, (kernel_size, 1), dilation=(d, 1)) for d in self.dilations)
        self.gate_convs = nn.ModuleList(
            nn.Conv2d(residual_channels, dilation_channels, (kernel_size, 1), dilation=(d, 1)) for d in self.dilations)
        self.skip_convs = nn.ModuleList(Conv1x1(dilation_channels, skip_channels) for _ in range(n))
        # the last layer's x is discarded by the official code, so its gconv/bn are not built
        self.gconv = nn.ModuleList(
            DiffusionConv(dilation_channels, residual_channels, n_sup, gcn_order, dropout) for _ in range(n - 1))
        self.bn = nn.ModuleList(nn.BatchNorm2d(residual_channels) for _ in range(n - 1))
        self.end_conv_1 = Conv1x1(skip_channels, end_channels)
        self.end_conv_2 = Conv1x1(end_channels, self.out_steps)
        self.receptive_field = 1 + (kernel_size - 1) * sum(self.dilations)
        gconv_size = (gcn_order * n_sup + 1) * dilation_channels * residual_channels + residual_channels
        self._unused = n * (dilation_channels * residual_channels + residual_channels) + gconv_size + 2 * residual_channels

    def official_unused_params(self) -> int:
        """Parameters the official code allocates but never uses (residual 1x1 convs, last gconv and BN)."""
        return self._unused

    def graph_supports_t(self):
        """(S, N, N) transposed supports [P_f^T, P_b^T, Ã]: h @ A^T applies A over nodes.

        Without the adaptive adjacency and with sparse fixed supports (density below
        SPARSE_DENSITY, e.g. a weather grid's 4-neighbourhood), a list of sparse A_s instead:
        the same operator (see ``node_mm``), O(edges) rather than O(N^2) per row.
        """
        if not self.adaptive_adj:
            if not self._sparse:
                return self.supports.transpose(1, 2)
            dev = self.supports.device
            if self._sparse_cache is None or self._sparse_cache[0].device != dev:
                with warnings.catch_warnings():  # "sparse CSR support is in beta"
                    warnings.simplefilter("ignore")
                    self._sparse_cache = [a.to_sparse_csr() for a in self.supports.unbind(0)]
            return self._sparse_cache
        fixed_t = self.supports.transpose(1, 2)
        adp = F.softmax(F.relu(self.nodevec1 @ self.nodevec2), dim=1)
        return torch.cat([fixed_t, adp.unsqueeze(0)], 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x[..., : self.in_dim].permute(0, 3, 1, 2)                   # (B, C, L, N)
        if x.shape[2] < self.receptive_field:
            x = F.pad(x, (0, 0, self.receptive_field - x.shape[2], 0))
        x = self.start_conv(x)
        supports_t = self.graph_supports_t()
        skip = 0
        last = len(self.dilations) - 1
        for i, d in enumerate(self.dilations):
            residual = x
            fc, gc = self.filter_convs[i], self.gate_convs[i]
            fg = F.conv2d(x, torch.cat([fc.weight, gc.weight]), torch.cat([fc.bias, gc.bias]), dilation=(d, 1))
            f, g = fg.chunk(2, dim=1)
            h = torch.tanh(f) * torch.sigmoid(g)
            skip = self.skip_convs[i](h[:, :, -1:]) + skip      # only the last step reaches y
            if i == last:
                break
            x = self.bn[i](self.gconv[i](h, supports_t) + residual[:, :, -h.shape[2]:])
        y = F.relu(self.end_conv_1(F.relu(skip)))
        return self.end_conv_2(y).transpose(2, 3)                      # (B, out_steps, N, 1)
