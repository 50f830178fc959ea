"""What the leaderboard adds around the sandbox: a worker's whole job on a model (claim, the
sandboxed run, the scores file, grading with the answer key, storage, the row) against the
sandboxed run alone; and the upload of a model (static check, storage, row, queue) against the
upload of a prediction file for the same test set, which is scored on the spot.

A small model (each record's mean) on 10,000 test records of 1,024 samples (2,000 with --quick),
on a SQLite database and queue in a temporary folder: the model's own time is small, so what the
job adds shows.

python -m benchmarks.bench_jobs [--quick]
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.timing import print_rows, row

REPEAT = 3
LENGTH = 1024


def write_challenge(folder: Path, n_events: int) -> Path:
    """An answer key of ``n_events`` (40% public) and its test.root in ``folder``; the key's path."""
    from tests.workers import write_test_records

    rng = np.random.default_rng(0)
    ids = rng.choice(np.arange(10**6, 10**7), size=n_events, replace=False)
    labels = rng.integers(0, 2, size=n_events).astype(np.int8)
    split = np.where(np.arange(n_events) < 0.4 * n_events, "public", "private")
    key = pd.DataFrame({"event_id": ids, "label": labels, "split": split})
    key.to_csv(folder / "answer_key.csv", index=False)
    write_test_records(folder, key, length=LENGTH)
    return folder / "answer_key.csv"


def mean_model(tag: int) -> bytes:
    """Each record's mean; ``tag`` names the graph, so that every copy is a new file."""
    from onnx import TensorProto, helper

    node = helper.make_node("ReduceMean", ["volts"], ["score"], axes=[1], keepdims=0)
    graph = helper.make_graph(
        [node],
        f"mean-{tag}",
        [helper.make_tensor_value_info("volts", TensorProto.FLOAT, ["n", LENGTH])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["n"])],
    )
    opsets = [helper.make_opsetid("", 17)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8).SerializeToString()


def make_app(folder: Path, key: Path, submissions: str):
    from leaderboard import create_app
    from leaderboard.db import init_db

    app = create_app({
        "TESTING": True, "SECRET_KEY": "bench", "DAILY_QUOTA": 1000,
        "REGISTRATIONS_PER_HOUR": 0, "REGISTRATIONS_PER_DAY": 0, "ANSWER_KEY": str(key), "SUBMISSIONS": submissions,
        "DATABASE_URL": f"sqlite:///{folder / f'{submissions}.sqlite'}",
        "UPLOAD_FOLDER": str(folder / f"{submissions}-files"),
        "QUEUE_URL": f"sqlite:///{folder / 'queue.sqlite'}",
    })  # fmt: skip
    init_db(app)
    return app


class Team:
    """A registered team of ``app`` that uploads through the API, as `challenge submit` does."""

    def __init__(self, app, name: str):
        self.client = app.test_client()
        token = self.client.post("/api/teams", json={"name": name}).get_json()["token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def upload(self, data: bytes, filename: str, status: int) -> dict:
        response = self.client.post(
            "/api/submissions",
            data={"file": (io.BytesIO(data), filename)},
            headers=self.headers,
            content_type="multipart/form-data",
        )
        assert response.status_code == status, response.get_json()
        return response.get_json()


def best(fn, repeat: int = REPEAT) -> float:
    import time

    times = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return min(times)


def run(*, quick: bool = False) -> list[dict]:
    from challenge.sandbox import score_model
    from leaderboard import jobs

    n_events = 2_000 if quick else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        key = write_challenge(folder, n_events)
        models, predictions = make_app(folder, key, "models"), make_app(folder, key, "predictions")
        team, other = Team(models, "models team"), Team(predictions, "csv team")
        with models.app_context():
            records = jobs.test_records(models).records  # once per worker, as a worker
            limits = jobs.sandbox_limits(models.config)
            model = Path(tmp, "model.onnx")
            model.write_bytes(mean_model(-1))
            sandbox = best(lambda i: score_model(model, records, limits=limits, private=True))
            ids = [team.upload(mean_model(i), "model.onnx", 202)["id"] for i in range(REPEAT)]
            job = best(lambda i: jobs.score_submission(models, ids[i]))
        upload_model = best(lambda i: team.upload(mean_model(100 + i), "model.onnx", 202))
        table = pd.read_csv(key)
        csv = [
            table[["event_id"]].assign(score=np.random.default_rng(i).random(len(table)))
            .to_csv(index=False).encode()
            for i in range(REPEAT)
        ]  # fmt: skip
        upload_csv = best(lambda i: other.upload(csv[i], "sub.csv", 201))
    return [
        row(f"a worker's job on {n_events:,} records (claim, sandbox, scores file, grading, "
            "storage, row)", job, sandbox, reference_name="the sandboxed run alone"),
        row("an upload of a model (check, storage, row, queue): 202", upload_model, upload_csv,
            reference_name=f"an upload of a prediction file for {n_events:,} events: 201"),
    ]  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 records instead of 10,000")
    print_rows(run(quick=parser.parse_args().quick))
