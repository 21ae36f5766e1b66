"""A deterministic synthetic road network: the embedded default data set (no files).

Everything follows from ``seed`` (``numpy.random.default_rng``):

* Graph: ``corridors`` straight roads crossing a 20 x 20 km area; nodes are spread over
  them (sorted positions ``s`` along each road). Road distance is |s_i - s_j| on the same
  corridor and 1.5 x the straight-line distance across corridors (a detour); the
  adjacency is the Gaussian kernel exp(-(d / sigma)^2) thresholded at ``threshold``
  (DCRNN's construction), self-loops included.
* Speeds (mph), 5-min steps: v = v_free * (1 - c) * daily factor + AR(1) noise, where the
  congestion c has a morning (08:00) and an evening (17:30) rush on weekdays, each node's
  inbound/outbound direction weighting one rush more, peaks shifted along the road, a
  stronger Monday morning and Friday evening, and a mild midday bump at weekends.
* Incidents (Poisson, ``incidents_per_day``): a drop of 30-70 % for 30-120 min at one
  node that spreads to its graph neighbours with weight w_ij and a lag growing with
  distance.
* Sensor dropouts: outages of 1-12 h (Poisson, ``dropouts_per_node_day``) and isolated
  missing readings, written as the null value 0 (as in METR-LA).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import RawSeries
from .formats import FORMATS, DataFormat, Option, ReadContext
from .graphs import gaussian_kernel


@dataclass
class SyntheticRoads:
    """Generator settings; ``generate()`` returns (values (T, N), adj (N, N), positions (N, 2))."""

    nodes: int = 40
    days: int = 14
    seed: int = 0
    corridors: int = 4
    step_minutes: int = 5
    incidents_per_day: float = 2.0
    dropouts_per_node_day: float = 0.1
    sigma_km: float = 3.0
    threshold: float = 0.1

    def road_distances(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n, k = self.nodes, max(1, min(self.corridors, self.nodes))
        angles = rng.uniform(0, np.pi, size=k)
        origins = rng.uniform(-3, 3, size=(k, 2))
        road = np.arange(n) % k
        s = rng.uniform(-10, 10, size=n)
        for r in range(k):  # sorted positions along each road
            idx = np.nonzero(road == r)[0]
            s[idx] = np.sort(s[idx])
        direction = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        pos = origins[road] + s[:, None] * direction[road]
        euclid = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
        same = road[:, None] == road[None, :]
        dist = np.where(same, np.abs(s[:, None] - s[None, :]), 1.5 * euclid)
        return dist, np.column_stack([pos, s, road])

    def generate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        n = self.nodes
        spd = int(round(24 * 60 / self.step_minutes))
        T = self.days * spd
        dist, geo = self.road_distances(rng)
        adj = gaussian_kernel(dist, sigma=self.sigma_km, threshold=self.threshold, self_loops=True)

        t = np.arange(T)
        minute = (t % spd) * self.step_minutes  # minutes since midnight
        day = t // spd
        dow = day % 7  # day 0 is a Monday when the YAML starts on one
        weekday = (dow < 5)[:, None]

        v_free = rng.uniform(60, 70, size=n)
        inbound = rng.random(n) < 0.5
        a_m = rng.uniform(0.3, 0.6, size=n) * np.where(inbound, 1.3, 0.7)
        a_e = rng.uniform(0.3, 0.6, size=n) * np.where(inbound, 0.7, 1.3)
        shift = geo[:, 2] * np.where(inbound, -1.5, 1.5)  # minutes: the wave moves along the road

        def bump(centre, width):
            return np.exp(-0.5 * ((minute[:, None] - centre - shift[None, :]) / width) ** 2)

        boost_m = np.where(dow == 0, 1.1, 1.0)[:, None]
        boost_e = np.where(dow == 4, 1.15, 1.0)[:, None]
        rush = a_m * boost_m * bump(8 * 60, 50) + a_e * boost_e * bump(17.5 * 60, 75)
        weekend = 0.15 * bump(13 * 60, 120)
        c = np.clip(np.where(weekday, rush, weekend), 0, 0.85)
        daily = rng.normal(1.0, 0.04, size=(self.days, n))[day]
        speed = v_free * (1 - c) * daily

        noise = np.empty((T, n))
        eps = rng.normal(0, 1.0, size=(T, n))
        noise[0] = eps[0]
        for i in range(1, T):
            noise[i] = 0.9 * noise[i - 1] + np.sqrt(1 - 0.81) * eps[i]
        speed = speed + noise

        factor = np.ones((T, n))
        for _ in range(rng.poisson(self.incidents_per_day * self.days)):
            node = int(rng.integers(n))
            start = int(rng.integers(T))
            length = int(rng.integers(6, 25))
            severity = rng.uniform(0.3, 0.7)
            for j in np.nonzero(adj[node] > 0)[0]:
                lag = int(round(3 * dist[node, j] / self.sigma_km))
                a, b = start + lag, min(T, start + lag + length)
                if a < T:
                    factor[a:b, j] *= 1 - severity * adj[node, j]
        values = np.clip(speed * factor, 3.0, None)

        for j in range(n):
            for _ in range(rng.poisson(self.dropouts_per_node_day * self.days)):
                a = int(rng.integers(T))
                values[a:a + int(rng.integers(12, 145)), j] = 0.0
        values[rng.random((T, n)) < 1e-3] = 0.0
        return values.astype(np.float32), adj, geo[:, :2].astype(np.float32)


@FORMATS.register("synthetic")
class Synthetic(DataFormat):
    """Generated in memory from the YAML's options (no files)."""

    files: dict = {}
    options = {
        "nodes": Option(int, 40, nullable=False),
        "days": Option(int, 14, nullable=False),
        "seed": Option(int, 0, nullable=False),
        "corridors": Option(int, 4, nullable=False),
        "incidents_per_day": Option(float, 2.0, nullable=False),
        "dropouts_per_node_day": Option(float, 0.1, nullable=False),
    }
    graph = {"sigma_km": Option(float, 3.0, nullable=False), "threshold": Option(float, 0.1, nullable=False)}
    needs_time = True

    def read(self, ctx: ReadContext) -> RawSeries:
        gen = SyntheticRoads(step_minutes=int(ctx.step_minutes or 5), sigma_km=ctx.graph["sigma_km"],
                             threshold=ctx.graph["threshold"], **ctx.options)
        values, adj, pos = gen.generate()
        return ctx.raw(values, adj, ctx.time_axis(values.shape[0]), [], positions=pos, seed=gen.seed)
