"""The downloader against a local HTTP server on 127.0.0.1 (a thread in the test)."""
from __future__ import annotations

import argparse
import hashlib
import http.server
import threading

import numpy as np
import pandas as pd
import pytest
import yaml

from stbench import datasets as D
from stbench.datasets.base import DataError
from stbench.datasets.download import download_dataset, download_file, verify_dataset


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files`` (name -> bytes); honours Range unless ``server.ignore_range``."""

    def do_GET(self):  # noqa: N802
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        body = srv.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404, "not found")
            return
        rng = self.headers.get("Range")
        if rng and not srv.ignore_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            body = body[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests, srv.ignore_range = {}, [], False
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def payload():
    return np.random.default_rng(0).bytes(300_000)


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_full_download_checks_and_renames(server, payload, tmp_path):
    server.files["f.bin"] = payload
    dest = download_file(f"{server.url}/f.bin", tmp_path / "d" / "f.bin", size=len(payload), sha256=sha(payload))
    assert dest.read_bytes() == payload and not (tmp_path / "d" / "f.bin.part").exists()
    assert server.requests == [("/f.bin", None)]


def test_resume_from_partial_file(server, payload, tmp_path):
    server.files["f.bin"] = payload
    part = tmp_path / "f.bin.part"
    part.write_bytes(payload[:100_000])
    download_file(f"{server.url}/f.bin", tmp_path / "f.bin", size=len(payload), sha256=sha(payload))
    assert server.requests == [("/f.bin", "bytes=100000-")]
    assert (tmp_path / "f.bin").read_bytes() == payload and not part.exists()


def test_server_ignoring_range_restarts_the_file(server, payload, tmp_path):
    server.files["f.bin"] = payload
    server.ignore_range = True
    (tmp_path / "f.bin.part").write_bytes(payload[:5000])
    logs = []
    download_file(f"{server.url}/f.bin", tmp_path / "f.bin", size=len(payload), sha256=sha(payload), log=logs.append)
    assert (tmp_path / "f.bin").read_bytes() == payload
    assert any("ignored the Range" in m for m in logs)


def test_complete_part_file_without_known_size(server, payload, tmp_path):
    server.files["f.bin"] = payload
    (tmp_path / "f.bin.part").write_bytes(payload)
    download_file(f"{server.url}/f.bin", tmp_path / "f.bin", sha256=sha(payload))  # server answers 416
    assert (tmp_path / "f.bin").read_bytes() == payload


def test_checksum_mismatch_removes_part_file(server, payload, tmp_path):
    server.files["f.bin"] = payload
    with pytest.raises(DataError, match=r"f\.bin .*sha256 mismatch: got [0-9a-f]{64}, expected 0{64}"):
        download_file(f"{server.url}/f.bin", tmp_path / "f.bin", sha256="0" * 64)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_size_mismatch_and_overlong_part(server, payload, tmp_path):
    server.files["f.bin"] = payload
    with pytest.raises(DataError, match=f"size mismatch: {len(payload)} bytes, expected {len(payload) + 1}"):
        download_file(f"{server.url}/f.bin", tmp_path / "f.bin", size=len(payload) + 1)
    assert not (tmp_path / "f.bin.part").exists()
    (tmp_path / "f.bin.part").write_bytes(payload + b"extra")
    download_file(f"{server.url}/f.bin", tmp_path / "f.bin", size=len(payload), sha256=sha(payload))
    assert (tmp_path / "f.bin").read_bytes() == payload


def test_unknown_checksum_is_reported_not_silent(server, payload, tmp_path):
    server.files["f.bin"] = payload
    logs = []
    download_file(f"{server.url}/f.bin", tmp_path / "f.bin", log=logs.append)
    assert any("could not verify" in m and sha(payload) in m for m in logs)


def test_http_error(server, tmp_path):
    with pytest.raises(DataError, match=r"HTTP 404"):
        download_file(f"{server.url}/missing.bin", tmp_path / "x.bin")


def test_download_verify_and_load_a_data_set(server, tmp_path, monkeypatch, capsys):
    """`data download` + `data verify` for a YAML-only data set served from 127.0.0.1."""
    rng = np.random.default_rng(1)
    speed = pd.DataFrame(rng.uniform(10, 70, size=(60, 3)).round(2), columns=["11", "12", "13"]).to_csv(index=False).encode()
    adj = pd.DataFrame(np.eye(3)).to_csv(index=False, header=False).encode()
    server.files.update({"speed.csv": speed, "adj.csv": adj})
    specs = tmp_path / "specs"
    specs.mkdir()
    spec = {"name": "WEB-LOOP", "format": "tgcn_csv", "split": [0.7, 0.1, 0.2], "citation": "test",
            "time": {"start": "2012-03-01 00:00", "step_minutes": 5},
            "files": {"series": {"path": "speed.csv", "url": f"{server.url}/speed.csv", "size": len(speed),
                                 "sha256": sha(speed)},
                      "graph": {"path": "adj.csv", "url": f"{server.url}/adj.csv", "sha256": sha(adj)}}}
    (specs / "WEB-LOOP.yaml").write_text(yaml.safe_dump(spec))
    monkeypatch.setenv("STBENCH_DATASET_CONFIGS", str(specs))
    root = tmp_path / "root"
    assert not D.dataset_present("WEB-LOOP", root)
    st = download_dataset("web-loop", root, log=lambda m: None)
    assert [s.status for s in st] == ["downloaded", "downloaded"]
    assert D.dataset_present("WEB-LOOP", root) and D.load_raw("WEB-LOOP", root).values.shape == (60, 3)
    assert [s.status for s in download_dataset("WEB-LOOP", root)] == ["ok", "ok"]  # nothing fetched again
    assert len(server.requests) == 2

    from stbench.datasets.cli import add_data_commands

    p = argparse.ArgumentParser()
    add_data_commands(p.add_subparsers())
    run = lambda *a: (lambda ns: ns.func(ns))(p.parse_args(list(a)))  # noqa: E731
    assert run("data", "verify", "WEB-LOOP", "--data-root", str(root)) == 0
    (root / "WEB-LOOP" / "adj.csv").write_bytes(adj + b"\n")
    assert [s.status for s in verify_dataset("WEB-LOOP", root)] == ["ok", "mismatch"]
    assert run("data", "verify", "WEB-LOOP", "--data-root", str(root)) == 1
    assert run("data", "download", "WEB-LOOP", "--data-root", str(root)) == 2  # bad input (issue 30)
    assert "--force" in capsys.readouterr().err
    assert run("data", "download", "WEB-LOOP", "--data-root", str(root), "--force") == 0
    assert (root / "WEB-LOOP" / "adj.csv").read_bytes() == adj
