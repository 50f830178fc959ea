"""The README's main command in its reduced mode: `make demo` on tiny data, without a terminal,
then Ctrl-C."""

from __future__ import annotations

import os
import re
import shlex
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


def organizer_status(output: str) -> str:
    """``leaderboard status`` run with only the ``export`` line the demo printed."""
    instance = re.search(r"^\$ export LEADERBOARD_INSTANCE=(.+)$", output, re.M).group(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADERBOARD_")}
    env["LEADERBOARD_INSTANCE"] = shlex.split(instance)[0]
    done = subprocess.run(
        [str(Path(sys.executable).parent / "leaderboard"), "status"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def public_digits(data: Path, key: pd.DataFrame) -> int:
    """The decimals of the Ladder's public numbers (the demo runs the default board): the power
    of ten nearest the difference that the public split resolves at challenge.json's AUC."""
    import json
    import math

    from challenge.planning import resolvable_difference

    auc = json.loads((data / "public" / "challenge.json").read_text())["resolution"][
        "reference_auc"
    ]
    public = key[key["split"] == "public"]
    carriers = int(public["label"].sum())
    return max(1, round(-math.log10(resolvable_difference(auc, carriers, len(public) - carriers))))


def public_auc(submission: Path, key: pd.DataFrame) -> float:
    public = key[key["split"] == "public"].merge(pd.read_csv(submission), on="event_id")
    return roc_auc_score(public["label"], public["score"])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_make_demo_serves_without_a_terminal_until_sigint(tmp_path):
    """`setsid make demo < /dev/null &` from a script: no terminal, no stdin, and SIGINT ignored
    on entry (what a non-interactive shell does to a background job); it serves until SIGINT."""
    venv = Path(sys.prefix)  # make uses this environment instead of setting up .venv
    make = shlex.join(
        ["setsid", "make", "--no-print-directory", "-C", str(ROOT), "demo", f"VENV={venv}",
         "-o", str(venv / ".installed"), f"DEMO_ARGS=--quick --port 0 --workdir {tmp_path}"]
    )  # fmt: skip
    demo = subprocess.Popen(
        ["sh", "-c", f"trap '' INT; exec {make} < /dev/null"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output = read_until(demo, "until Ctrl-C", timeout=500)
        url = re.search(r"Serving on (http://127\.0\.0\.1:\d+) until Ctrl-C\.", output).group(1)
        rows = requests.get(f"{url}/api/leaderboard", timeout=10).json()["rows"]
        data_page = requests.get(f"{url}/data", timeout=10).text
        status = organizer_status(output)  # a second or more: the demo must still run after it
        assert demo.poll() is None  # it used to close its server at once without a terminal
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        try:
            rest, _ = demo.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGTERM)  # the demo then stops its server too
            raise
    assert demo.returncode == 0 and "Stopping." in rest, rest
    assert 'href="/data/files/train.root"' in data_page  # the demo offers its public files
    assert "teams:        2 (+ 2 references)" in status
    assert "submissions:  4 in all, 4 today (UTC)" in status
    echoed = [shlex.split(line[2:]) for line in output.splitlines() if line.startswith("$ ")]
    references = [args[2] for args in echoed if args[:2] == ["leaderboard", "add-reference"]]
    assert references == [
        "matched filter (physics reference)",
        "starter network (baseline to beat)",
    ]

    key = pd.read_csv(tmp_path / "data" / "private" / "answer_key.csv")
    digits = public_digits(tmp_path / "data", key)
    teams = {row["team"]: row for row in rows if not row["reference"]}
    references = {row["team"]: row for row in rows if row["reference"]}
    assert set(teams) == {"muon-hunters", "cryo-cats"}
    assert set(references) == {
        "matched filter (physics reference)",
        "starter network (baseline to beat)",
    }
    for name, model in [("muon-hunters", "logit"), ("cryo-cats", "mlp")]:
        assert teams[name]["entries"] == 1  # a first upload: the Ladder shows it, rounded
        assert teams[name]["public_auc"] == round(
            public_auc(tmp_path / model / "submission.csv", key), digits
        )
    assert sorted(row["rank"] for row in teams.values()) == [1, 2]
    assert all(row["rank"] is None for row in references.values())
    best = max(teams.values(), key=lambda row: row["public_auc"])
    assert best["rank"] == 1
    mf = references["matched filter (physics reference)"]
    assert mf["public_auc"] == round(
        public_auc(tmp_path / "matched-filter" / "submission.csv", key), digits
    )

    host, port = url.removeprefix("http://").split(":")
    with pytest.raises(OSError):  # the server went with the demo
        socket.create_connection((host, int(port)), timeout=2)


def local_public_auc(model: Path, data: Path, key: pd.DataFrame) -> float:
    """The public AUC that onnxruntime gives the model in this process on the test records."""
    from challenge.data import load_file
    from challenge.onnx_runner import make_session, run_batches

    test = load_file(data / "private" / "test.root")
    scores = run_batches(make_session(model.read_bytes()), test.X).reshape(-1)
    frame = pd.DataFrame({"event_id": test.event_id, "score": scores})
    public = key[key["split"] == "public"].merge(frame, on="event_id")
    return roc_auc_score(public["label"], public["score"])


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_demo_of_model_submissions(tmp_path):
    """`make demo DEMO_ARGS=--models`, reduced: teams export, check and upload ONNX models that a
    worker scores on test records they never had; the organizers' reference rows next to them."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "demo.py"), "--models", "--quick", "--no-serve", "--port", "0",
         "--workdir", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=380,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "in a browser" not in done.stdout  # --no-serve: the server has stopped
    echoed = [shlex.split(line[2:]) for line in done.stdout.splitlines() if line.startswith("$ ")]
    commands = [args[:2] for args in echoed]
    for command in (["leaderboard", "worker"], ["baselines", "export"],
                    ["challenge", "check-model"], ["challenge", "submit"]):  # fmt: skip
        assert command in commands, command
    assert not (tmp_path / "team-data" / "public" / "test.root").exists()  # what teams had
    assert [p.name for p in (tmp_path / "data" / "private").glob("*.root")] == ["test.root"]

    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADERBOARD_")}
    env["LEADERBOARD_INSTANCE"] = str(tmp_path / "leaderboard")
    exported = tmp_path / "submissions.csv"
    subprocess.run([str(Path(sys.executable).parent / "leaderboard"), "export", "submissions",
                    "-o", str(exported)], env=env, check=True, timeout=60)  # fmt: skip
    rows = pd.read_csv(exported).set_index("team")
    key = pd.read_csv(tmp_path / "data" / "private" / "answer_key.csv")
    for team, model in [("muon-hunters", "logit"), ("cryo-cats", "mlp")]:
        row = rows.loc[team]
        assert (row["kind"], row["status"]) == ("model", "scored")
        expected = local_public_auc(tmp_path / model / "model.onnx", tmp_path / "data", key)
        assert row["public_auc"] == pytest.approx(expected, abs=1e-6)  # the organizer's export
        digits = public_digits(tmp_path / "data", key)  # what the team reads: the Ladder's
        assert f"scored: public AUC {round(expected, digits):.{digits}f} " in done.stdout
    references = rows[rows["reference"] == 1]
    assert sorted(references.index) == sorted(
        ["matched filter (physics reference)", "starter network (baseline to beat)"]
    )
    assert set(references["kind"]) == {"predictions"} and set(references["status"]) == {"scored"}
    assert "Consumer exiting" in (tmp_path / "leaderboard" / "worker.log").read_text()


@pytest.mark.parametrize("serve", [True, False])
def test_the_last_words_fit_a_served_or_a_stopped_board(serve):
    """With --no-serve the server is gone: no "Open ... in a browser" for it."""
    import demo

    words = demo.closing_words("http://127.0.0.1:8000", "TOKEN", "/x y/leaderboard", serve)
    assert ("Open http://127.0.0.1:8000/ in a browser" in words) is serve
    assert ("The server stops now (--no-serve)" in words) is not serve
    assert words.endswith("  export LEADERBOARD_INSTANCE='/x y/leaderboard'\n  leaderboard status")
