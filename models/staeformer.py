"""STAEformer (Liu et al., CIKM 2023; official code XDZhelheim/STAEformer).

Spatio-temporal adaptive embedding + vanilla transformer layers:

    z = [x W_in, E_tod[tod], E_dow[dow], E_a]              (B, T, N, d_model)
        d_model = input 24 + tod 24 + dow 24 + spatial 0 + adaptive 80 = 152,
        E_a (T, N, 80) a learned adaptive embedding per (step, node)
    z = temporal layers (attention over T for each node), then spatial layers
        (attention over N for each step); each layer is post-norm:
        z = LN(z + Drop(MHA(z))), z = LN(z + Drop(W_2 relu(W_1 z)))
    y = W_out vec_{t, c}(z[:, :, n, :])                    mixed projection, T*d -> Q

As in the official configs, the input projection sees all three input channels
(value, time of day, day of week as given). Attention is computed with
``scaled_dot_product_attention`` (the same softmax(Q K^T / sqrt(d_h)) V, no dropout
on the weights, as in the official code), which on CPU avoids materialising the
N x N score matrix of the spatial layers for large graphs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import STModel, register_model
from .layers import DAYS_PER_WEEK, Dropout, dow_index, tod_index


class MultiHeadAttention(nn.Module):
    """Self-attention across dim -2 of (..., L, d_model); heads split the channel dim."""

    def __init__(self, model_dim: int, num_heads: int):
        super().__init__()
        if model_dim % num_heads:
            raise ValueError(f"staeformer: model dim {model_dim} is not divisible by num_heads {num_heads}")
        self.heads = num_heads
        self.FC_Q, self.FC_K, self.FC_V = (nn.Linear(model_dim, model_dim) for _ in range(3))
        self.out_proj = nn.Linear(model_dim, model_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *lead, L, D = x.shape
        x = x.reshape(-1, L, D)
        split = lambda t: t.view(t.shape[0], L, self.heads, D // self.heads).transpose(1, 2)  # noqa: E731
        o = F.scaled_dot_product_attention(split(self.FC_Q(x)), split(self.FC_K(x)), split(self.FC_V(x)))
        return self.out_proj(o.transpose(1, 2).reshape(*lead, L, D))


class SelfAttentionLayer(nn.Module):
    def __init__(self, model_dim: int, ffn_dim: int, num_heads: int, dropout: float):
        super().__init__()
        self.attn = MultiHeadAttention(model_dim, num_heads)
        self.feed_forward = nn.Sequential(nn.Linear(model_dim, ffn_dim), nn.ReLU(), nn.Linear(ffn_dim, model_dim))
        self.ln1, self.ln2 = nn.LayerNorm(model_dim), nn.LayerNorm(model_dim)
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.ln1(x + self.dropout1(self.attn(x)))
        return self.ln2(x + self.dropout2(self.feed_forward(x)))


@register_model("staeformer")
class STAEformer(STModel):
    """Spatio-Temporal Adaptive Embedding transformer; see the module docstring."""

    def __init__(self, meta, input_dim: int = 3, output_dim: int = 1, input_embedding_dim: int = 24,
                 tod_embedding_dim: int = 24, dow_embedding_dim: int = 24, spatial_embedding_dim: int = 0,
                 adaptive_embedding_dim: int = 80, feed_forward_dim: int = 256, num_heads: int = 4,
                 num_layers: int = 3, dropout: float = 0.1):
        super().__init__(meta)
        if not 1 <= input_dim <= self.in_channels:
            raise ValueError(f"staeformer: input_dim must be in 1..{self.in_channels}, got {input_dim}")
        self.input_dim, self.output_dim = input_dim, output_dim
        self.model_dim = (input_embedding_dim + tod_embedding_dim + dow_embedding_dim
                          + spatial_embedding_dim + adaptive_embedding_dim)
        self.input_proj = nn.Linear(input_dim, input_embedding_dim)
        self.tod_embedding = nn.Embedding(self.steps_per_day, tod_embedding_dim) if tod_embedding_dim > 0 else None
        self.dow_embedding = nn.Embedding(DAYS_PER_WEEK, dow_embedding_dim) if dow_embedding_dim > 0 else None
        self.node_emb = self.adaptive_embedding = None
        if spatial_embedding_dim > 0:
            self.node_emb = nn.Parameter(nn.init.xavier_uniform_(torch.empty(self.num_nodes, spatial_embedding_dim)))
        if adaptive_embedding_dim > 0:
            self.adaptive_embedding = nn.Parameter(
                nn.init.xavier_uniform_(torch.empty(self.in_steps, self.num_nodes, adaptive_embedding_dim)))
        self.attn_layers_t = nn.ModuleList(
            SelfAttentionLayer(self.model_dim, feed_forward_dim, num_heads, dropout) for _ in range(num_layers))
        self.attn_layers_s = nn.ModuleList(
            SelfAttentionLayer(self.model_dim, feed_forward_dim, num_heads, dropout) for _ in range(num_layers))
        self.output_proj = nn.Linear(self.in_steps * self.model_dim, self.out_steps * output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        B, T, N, _ = x.shape
        feats = [self.input_proj(x[..., : self.input_dim])]
        if self.tod_embedding is not None:
            feats.append(self.tod_embedding(tod_index(x[..., 1], self.steps_per_day)))
        if self.dow_embedding is not None:
            feats.append(self.dow_embedding(dow_index(x[..., 2])))
        if self.node_emb is not None:
            feats.append(self.node_emb.expand(B, T, N, -1))
        if self.adaptive_embedding is not None:
            feats.append(self.adaptive_embedding.expand(B, T, N, -1))
        z = torch.cat(feats, -1).transpose(1, 2)                          # (B, N, T, D): attention over T
        for layer in self.attn_layers_t:
            z = layer(z)
        z = z.transpose(1, 2)                                             # (B, T, N, D): attention over N
        for layer in self.attn_layers_s:
            z = layer(z)
        out = self.output_proj(z.transpose(1, 2).reshape(B, N, T * self.model_dim))
        return out.view(B, N, self.out_steps, self.output_dim).transpose(1, 2)
