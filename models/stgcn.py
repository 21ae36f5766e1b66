"""STGCN (Yu et al., IJCAI 2018), the PyTorch layout of hazdzz/STGCN used by BasicTS.

Channels first (B, C, T, N). ``blocks = [[C_in], [c0, c1, c2], ..., [f1, f2], [Q]]``:

    ST-Conv block ("sandwich"), one per middle entry [c0, c1, c2]:
        x = T_glu(x)      temporal conv, kernel (Kt, 1), c_prev -> c0:
                          (P + align(x)) * sigmoid(Q), [P, Q] = W * x (2 c0 channels)
        x = relu(G(x))    Chebyshev graph conv c0 -> c1 with a residual:
                          G(x) = sum_k T_k(L~) align(x) W_k + b + align(x),
                          T_0 = I, T_1 = L~, T_k = 2 L~ T_{k-1} - T_{k-2}, Ks terms
        x = T_glu(x)      c1 -> c2
        x = Dropout(LayerNorm_[N, c2](x))
    Output block: T_glu with kernel Ko = T - 2 (Kt - 1) (#blocks) -> f1, LayerNorm_[N, f1],
        fc f1 -> f2, relu, fc f2 -> Q; the result (B, Q, N, 1) is the forecast.

LayerNorm over the (N, c) slice of each (batch, time) entry:
``LN(x) = (x - mean) / sqrt(var + eps) * gamma + beta`` with ``eps = layernorm_eps``:
hazdzz/STGCN uses 1e-12 (configs/models/stgcn.yaml); absent, the parameter is torch's
default 1e-5, the value runs made before the key existed trained with, so their recorded
configs still build their own model.

align(x) maps c_in to c_out channels: a 1x1 conv if c_in > c_out, zero channels
appended if c_in < c_out, identity otherwise. L~ is the scaled Laplacian
(``gso``, see models.graph). The official code also allocates the 1x1 align conv
when it is not used (c_in <= c_out); it is not built here and is counted by
``official_unused_params()``. As in BasicTS, the output block has no dropout.

Speed (same function; tests compare with the official einsum forward): nodes are
the last axis, so L~ is applied as one (B C T, N) x (N, N) matmul; the Ks Chebyshev
weights act as one 1x1 convolution (a batched matmul) on the stacked terms; the GLU
halves are taken with ``chunk`` (two slices would each make autograd allocate a
full-size zero gradient).
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .base import STModel, register_model
from .graph import build_supports
from .layers import Conv1x1, Dropout, conv1x1

# name -> (conv output multiplier, f(p, q, x_in)); q is None for ungated activations
TEMPORAL_ACTS: Dict[str, tuple[int, Callable]] = {
    "glu": (2, lambda p, q, r: (p + r) * torch.sigmoid(q)),
    "gtu": (2, lambda p, q, r: torch.tanh(p + r) * torch.sigmoid(q)),
    "relu": (1, lambda p, q, r: torch.relu(p + r)),
}


class Align(nn.Module):
    """(B, c_in, T, N) -> (B, c_out, T, N): 1x1 conv (c_in > c_out), zero-pad (<) or identity."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.c_in, self.c_out = c_in, c_out
        self.conv = Conv1x1(c_in, c_out) if c_in > c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is not None:
            return self.conv(x)
        if self.c_in < self.c_out:
            return F.pad(x, (0, 0, 0, 0, 0, self.c_out - self.c_in))
        return x

    @property
    def official_unused(self) -> int:
        return 0 if self.conv is not None else self.c_in * self.c_out + self.c_out


class TemporalConv(nn.Module):
    """Causal temporal conv with a residual, kernel (Kt, 1): T -> T - Kt + 1."""

    def __init__(self, kt: int, c_in: int, c_out: int, act: str):
        super().__init__()
        if act not in TEMPORAL_ACTS:
            raise ValueError(f"stgcn: act_func must be one of {sorted(TEMPORAL_ACTS)}, got {act!r}")
        mult, self.act = TEMPORAL_ACTS[act]
        self.kt, self.c_out, self.gated = kt, c_out, mult == 2
        self.align = Align(c_in, c_out)
        self.conv = nn.Conv2d(c_in, mult * c_out, (kt, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.align(x)[:, :, self.kt - 1:, :]
        y = self.conv(x)
        p, q = y.chunk(2, dim=1) if self.gated else (y, None)
        return self.act(p, q, res)


class ChebGraphConv(nn.Module):
    """sum_{k<Ks} T_k(L~) x W_k + b over the node axis; x (B, C, T, N)."""

    def __init__(self, c_in: int, c_out: int, ks: int, bias: bool):
        super().__init__()
        if ks < 1:
            raise ValueError(f"stgcn: Ks must be >= 1, got {ks}")
        self.ks = ks
        self.weight = nn.Parameter(torch.empty(ks, c_in, c_out))
        self.bias = nn.Parameter(torch.empty(c_out)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(c_in * c_out)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor, gso_t: torch.Tensor) -> torch.Tensor:
        """x (B, C, T, N), gso_t = L~^T (N, N): x @ L~^T applies L~ over the node axis."""
        terms = [x]
        if self.ks > 1:
            terms.append(torch.matmul(x, gso_t))
        for _ in range(2, self.ks):
            terms.append(2.0 * torch.matmul(terms[-1], gso_t) - terms[-2])
        h = torch.cat(terms, 1)                                           # (B, Ks*C, T, N)
        return conv1x1(h, self.weight.reshape(-1, self.weight.shape[-1]).t(), self.bias)


class STConvBlock(nn.Module):
    def __init__(self, kt: int, ks: int, n: int, c_prev: int, ch: Sequence[int], act: str, bias: bool, drop: float,
                 eps: float = 1e-5):
        super().__init__()
        self.tmp_conv1 = TemporalConv(kt, c_prev, ch[0], act)
        self.graph_align = Align(ch[0], ch[1])
        self.cheb = ChebGraphConv(ch[1], ch[1], ks, bias)
        self.tmp_conv2 = TemporalConv(kt, ch[1], ch[2], act)
        self.ln = nn.LayerNorm([n, ch[2]], eps=eps)
        self.dropout = Dropout(drop)

    def forward(self, x: torch.Tensor, gso_t: torch.Tensor) -> torch.Tensor:
        x = self.tmp_conv1(x)
        x = self.graph_align(x)
        x = torch.relu(self.cheb(x, gso_t) + x)
        x = self.tmp_conv2(x)
        x = self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.dropout(x)


class OutputBlock(nn.Module):
    def __init__(self, ko: int, c_prev: int, ch: Sequence[int], end: int, n: int, act: str, bias: bool,
                 eps: float = 1e-5):
        super().__init__()
        self.tmp_conv1 = TemporalConv(ko, c_prev, ch[0], act)
        self.ln = nn.LayerNorm([n, ch[0]], eps=eps)
        self.fc1 = nn.Linear(ch[0], ch[1], bias=bias)
        self.fc2 = nn.Linear(ch[1], end, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln(self.tmp_conv1(x).permute(0, 2, 3, 1))               # (B, 1, N, f1)
        return self.fc2(torch.relu(self.fc1(x)))                          # (B, 1, N, Q)


@register_model("stgcn")
class STGCN(STModel):
    """STGCN with Chebyshev graph convolution; see the module docstring."""

    def __init__(self, meta, blocks: Sequence[Sequence[int]] = ((1,), (64, 16, 64), (64, 16, 64), (128, 128), (12,)),
                 Kt: int = 3, Ks: int = 3, act_func: str = "glu", droprate: float = 0.5, bias: bool = True,
                 gso: str = "scaled_laplacian", layernorm_eps: float = 1e-5):
        super().__init__(meta)
        if not layernorm_eps > 0:
            raise ValueError(f"stgcn: layernorm_eps must be > 0, got {layernorm_eps!r}")
        blocks = [list(b) for b in blocks]
        if len(blocks) < 4 or any(len(b) != 3 for b in blocks[1:-2]) or len(blocks[-2]) != 2:
            raise ValueError(f"stgcn: blocks must be [[C_in], [c0, c1, c2]..., [f1, f2], [Q]], got {blocks}")
        self.in_dim = int(blocks[0][-1])
        if not 1 <= self.in_dim <= self.in_channels:
            raise ValueError(f"stgcn: blocks[0] (input channels) must be in 1..{self.in_channels}, got {self.in_dim}")
        if blocks[-1][0] != self.out_steps:
            raise ValueError(f"stgcn: blocks[-1] must be [{self.out_steps}] (out_steps), got {blocks[-1]}")
        ko = self.in_steps - (len(blocks) - 3) * 2 * (Kt - 1)
        if ko < 1:
            raise ValueError(f"stgcn: in_steps {self.in_steps} too short for {len(blocks) - 3} blocks with Kt={Kt} "
                             f"(output kernel Ko = {ko}, must be >= 1)")
        gso_mat = build_supports(gso, meta.adj, self.num_nodes, "stgcn")[0]
        self.register_buffer("gso_t", torch.from_numpy(gso_mat.T.copy()))
        n = self.num_nodes
        self.st_blocks = nn.ModuleList(
            STConvBlock(Kt, Ks, n, blocks[i][-1], blocks[i + 1], act_func, bias, droprate, float(layernorm_eps))
            for i in range(len(blocks) - 3))
        self.output = OutputBlock(ko, blocks[-3][-1], blocks[-2], blocks[-1][0], n, act_func, bias,
                                  float(layernorm_eps))

    def official_unused_params(self) -> int:
        """Parameters of the 1x1 align convs the official code allocates for c_in <= c_out."""
        return sum(m.official_unused for m in self.modules() if isinstance(m, Align))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = x[..., : self.in_dim].permute(0, 3, 1, 2)                     # (B, C, T, N)
        for blk in self.st_blocks:
            x = blk(x, self.gso_t)
        return self.output(x).permute(0, 3, 2, 1)                         # (B, Q, N, 1)
