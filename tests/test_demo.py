"""The README's main command in its reduced mode: a whole challenge on tiny data, then Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]


def read_until(process: subprocess.Popen, marker: str, *, timeout: float) -> str:
    """The demo's output up to the line that contains ``marker``."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError(f"no {marker!r} in the demo's output:\n{''.join(lines)[-3000:]}")


def public_auc(submission: Path, key: pd.DataFrame) -> float:
    public = key[key["split"] == "public"].merge(pd.read_csv(submission), on="event_id")
    return roc_auc_score(public["label"], public["score"])


@pytest.mark.slow
def test_demo_runs_a_challenge_and_stops_cleanly_on_ctrl_c(tmp_path):
    demo = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "demo.py"),
            "--quick",
            "--serve",
            "--port",
            "0",
            "--workdir",
            str(tmp_path),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output = read_until(demo, "Serving until Ctrl-C", timeout=400)
        url = re.search(r"Open (http://127\.0\.0\.1:\d+)/", output).group(1)
        rows = requests.get(f"{url}/api/leaderboard", timeout=10).json()["rows"]
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        rest, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, rest
    assert "Stopping." in rest

    key = pd.read_csv(tmp_path / "data" / "private" / "answer_key.csv")
    teams = {row["team"]: row for row in rows if not row["reference"]}
    references = {row["team"]: row for row in rows if row["reference"]}
    assert set(teams) == {"muon-hunters", "cryo-cats"}
    assert set(references) == {
        "matched filter (physics reference)",
        "starter network (baseline to beat)",
    }
    for name, model in [("muon-hunters", "logit"), ("cryo-cats", "mlp")]:
        assert teams[name]["entries"] == 1
        assert teams[name]["public_auc"] == pytest.approx(
            public_auc(tmp_path / model / "submission.csv", key)
        )
    assert sorted(row["rank"] for row in teams.values()) == [1, 2]
    assert all(row["rank"] is None for row in references.values())
    best = max(teams.values(), key=lambda row: row["public_auc"])
    assert best["rank"] == 1
    mf = references["matched filter (physics reference)"]
    assert mf["public_auc"] == pytest.approx(
        public_auc(tmp_path / "matched-filter" / "submission.csv", key)
    )

    host, port = url.removeprefix("http://").split(":")
    with pytest.raises(OSError):  # the server went with the demo
        socket.create_connection((host, int(port)), timeout=2)
