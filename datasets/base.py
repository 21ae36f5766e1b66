"""Core data containers shared by loaders, the protocol, models and pruners.

`RawSeries` is what a loader returns: the published file read exactly as it is.
`DatasetMeta` is the small, model-facing description a backbone is built from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np


class DataError(ValueError):
    """A data file is missing, corrupt or inconsistent. The message names the file."""


@dataclass
class RawSeries:
    """One data set as read from its files.

    values:     (T, N) float32, the target channel in physical units; NaN = missing.
                Entries equal to ``null_value`` are kept as they are (the published
                convention, e.g. METR-LA's 0 = no reading) and masked in metrics.
    adj:        (N, N) float32 weighted adjacency (0 = no edge), finite.
    timestamps: (T,) datetime64[ns], strictly increasing, regular step.
    null_value: the value that marks a missing reading in ``values`` (from the data
                set's config, never guessed from the data); None if only NaN marks gaps.
    files:      the files the series and graph were read from (for checksums in env.json).
    """

    name: str
    values: np.ndarray
    adj: np.ndarray
    timestamps: np.ndarray
    null_value: Optional[float] = None
    files: list[Path] = field(default_factory=list)
    node_ids: Optional[list[str]] = None
    extra: dict = field(default_factory=dict)

    @property
    def num_steps(self) -> int:
        return int(self.values.shape[0])

    @property
    def num_nodes(self) -> int:
        return int(self.values.shape[1])

    @property
    def step_minutes(self) -> float:
        if len(self.timestamps) < 2:
            return 0.0
        return float((self.timestamps[1] - self.timestamps[0]) / np.timedelta64(1, "m"))

    @property
    def steps_per_day(self) -> int:
        m = self.step_minutes
        return int(round(24 * 60 / m)) if m > 0 else 1

    def valid_mask(self) -> np.ndarray:
        """(T, N) bool: True where a reading exists (finite and not the null value)."""
        ok = np.isfinite(self.values)
        if self.null_value is not None:
            ok &= self.values != self.null_value
        return ok

    def validate(self, source: str = "") -> "RawSeries":
        """Raise DataError naming ``source`` if shapes or values are inconsistent."""
        where = f"{self.name}" + (f" ({source})" if source else "")
        if self.values.ndim != 2:
            raise DataError(f"{where}: series must be (time, nodes), got shape {self.values.shape}")
        if self.adj.ndim != 2 or self.adj.shape[0] != self.adj.shape[1]:
            raise DataError(f"{where}: adjacency must be square (N, N), got {self.adj.shape}")
        if self.adj.shape[0] != self.values.shape[1]:
            raise DataError(
                f"{where}: node count of series ({self.values.shape[1]}) and graph "
                f"({self.adj.shape[0]}) disagree"
            )
        if not np.all(np.isfinite(self.adj)):
            raise DataError(f"{where}: adjacency contains NaN or inf")
        if np.isinf(self.values).any():
            raise DataError(f"{where}: series contains inf")
        if len(self.timestamps) != self.values.shape[0]:
            raise DataError(
                f"{where}: {len(self.timestamps)} timestamps for {self.values.shape[0]} steps"
            )
        return self


@dataclass
class DatasetMeta:
    """What a model needs to be built for a data set (no data arrays but the graph).

    Model input is (batch, in_steps, num_nodes, in_channels) with channels
    [z-scored value, time of day in [0, 1), day of week in {0..6}]; output is
    (batch, out_steps, num_nodes, 1) in z-scored units.
    """

    name: str
    num_nodes: int
    in_steps: int = 12
    out_steps: int = 12
    in_channels: int = 3
    steps_per_day: int = 288
    adj: Optional[np.ndarray] = None
