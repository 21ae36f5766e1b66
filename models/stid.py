"""STID (Shao et al., CIKM 2022; official code zezhishao/STID, BasicTS).

Spatial and temporal identity embeddings with an MLP encoder, per node:

    e_ts  = W_ts . vec(x[:, :, n, :input_dim])           (P * input_dim) -> embed_dim
    e_n   = E_node[n]                                    node identity, node_dim
    e_tod = E_tod[tod index of the last input step]      temp_dim_tid
    e_dow = E_dow[dow of the last input step]            temp_dim_diw
    h     = [e_ts, e_n, e_tod, e_dow]                    hidden = sum of the dims
    h     = h + W_2 Dropout(relu(W_1 h))                 num_layer residual MLP layers
    y     = W_r h                                        hidden -> out_steps

Input channels follow BasicTS: [value, time of day in [0, 1), day of week / 7];
the suite's day-of-week channel is the integer 0..6, so it is divided by 7 before
the dense embedding (the index for E_dow uses the integer).
"""
from __future__ import annotations

import torch
from torch import nn

from .base import STModel, register_model
from .layers import DAYS_PER_WEEK, Dropout, dow_index, tod_index


class ResidualMLP(nn.Module):
    """h + fc2(dropout(relu(fc1(h)))), channels last."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.drop = Dropout(dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.fc2(self.drop(torch.relu(self.fc1(h))))


@register_model("stid")
class STID(STModel):
    """Spatial-Temporal IDentity MLP; see the module docstring."""

    def __init__(self, meta, input_dim: int = 3, embed_dim: int = 32, node_dim: int = 32, temp_dim_tid: int = 32,
                 temp_dim_diw: int = 32, num_layer: int = 3, dropout: float = 0.15,
                 if_node: bool = True, if_T_i_D: bool = True, if_D_i_W: bool = True):
        super().__init__(meta)
        if not 1 <= input_dim <= self.in_channels:
            raise ValueError(f"stid: input_dim must be in 1..{self.in_channels}, got {input_dim}")
        self.input_dim = input_dim
        self.node_emb = nn.Parameter(torch.empty(self.num_nodes, node_dim)) if if_node else None
        self.time_in_day_emb = nn.Parameter(torch.empty(self.steps_per_day, temp_dim_tid)) if if_T_i_D else None
        self.day_in_week_emb = nn.Parameter(torch.empty(DAYS_PER_WEEK, temp_dim_diw)) if if_D_i_W else None
        for p in (self.node_emb, self.time_in_day_emb, self.day_in_week_emb):
            if p is not None:
                nn.init.xavier_uniform_(p)
        # the official 1x1 Conv2d layers, written as Linear over channels (same parameters)
        self.time_series_emb_layer = nn.Linear(input_dim * self.in_steps, embed_dim)
        hidden = embed_dim + node_dim * bool(if_node) + temp_dim_tid * bool(if_T_i_D) + temp_dim_diw * bool(if_D_i_W)
        self.encoder = nn.Sequential(*[ResidualMLP(hidden, dropout) for _ in range(num_layer)])
        self.regression_layer = nn.Linear(hidden, self.out_steps)
        scale = torch.ones(self.in_channels)
        if self.in_channels > 2:
            scale[2] = 1.0 / DAYS_PER_WEEK
        self.register_buffer("channel_scale", scale[:input_dim], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        B = x.shape[0]
        series = (x[..., : self.input_dim] * self.channel_scale).transpose(1, 2).reshape(B, self.num_nodes, -1)
        parts = [self.time_series_emb_layer(series)]                       # (B, N, embed)
        if self.node_emb is not None:
            parts.append(self.node_emb.expand(B, -1, -1))
        if self.time_in_day_emb is not None:
            parts.append(self.time_in_day_emb[tod_index(x[:, -1, :, 1], self.steps_per_day)])
        if self.day_in_week_emb is not None:
            parts.append(self.day_in_week_emb[dow_index(x[:, -1, :, 2])])
        h = self.encoder(torch.cat(parts, -1))
        return self.regression_layer(h).transpose(1, 2).unsqueeze(-1)     # (B, Q, N, 1)
