"""Build the fixture databases of earlier releases that the migration tests upgrade.

For each schema the leaderboard has had, the code of the commit before the next schema change
(a ``git worktree`` of it) makes a database the way an organizer's event would: teams through
the API, uploads, finals, a disqualification, a reference, a wrong token, the reveal. The
database is then dumped as SQL text, one file per backend, so that the tests load it anywhere:

    python tests/legacy/build.py                # SQLite only
    python tests/legacy/build.py --postgres URL # and PostgreSQL (pg_dump on PATH)

Run from the repository root with the project's venv; it writes ``tests/legacy/<revision>.*.sql``.
"""

from __future__ import annotations

import argparse
import io
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The Alembic revision each old release's schema is, and the commit whose code made it.
RELEASES = {
    "0001": "84e159e",  # teams, submissions, settings, bad_token_counts
    "0002": "561e51e",  # + is_late, final_rankings, audit_log, board_version
    "0003": "e00d7b6",  # + login_sessions
    "0004": "ac4f6db",  # bad_token_counts -> token_failures
    "0005": "1d5cd14",  # + registrations, invites
    "0006": "aea6f4c",  # + kind, status, failure_reason, scores_sha256, scored_at
    "0007": "244f307",  # + started_at: the last release before the migrations
    "0008": "d47e015",  # + ladder_accepted
    "0009": "e6b9380",  # + refused_uploads: the last schema before stored_files
}
# The schema name in the PostgreSQL dumps; the tests load them into a schema of their own.
PG_SCHEMA = "legacy_fixture"


def populate(url: str, folder: Path) -> None:
    """Run inside an old commit's code: fill the database at ``url`` as an event would."""
    import numpy as np
    import pandas as pd
    from click.testing import CliRunner

    from leaderboard import create_app
    from leaderboard.cli import main
    from leaderboard.db import init_db

    assert Path(create_app.__code__.co_filename).is_relative_to(Path.cwd()), "not the old code"
    rng = np.random.default_rng(0)
    ids = rng.choice(np.arange(10_000, 100_000), size=40, replace=False)
    labels = np.arange(40) % 2
    key = pd.DataFrame(
        {"event_id": ids, "label": labels, "split": ["public"] * 16 + ["private"] * 24}
    )
    key.to_csv(folder / "answer_key.csv", index=False)
    app = create_app({
        "TESTING": True, "SECRET_KEY": "s" * 32, "DATABASE_URL": url, "ENV_NAME": "development",
        "ANSWER_KEY": str(folder / "answer_key.csv"), "UPLOAD_FOLDER": str(folder / "files"),
        "QUEUE_URL": f"sqlite:///{folder / 'queue.sqlite'}", "DAILY_QUOTA": 100,
        "REGISTRATIONS_PER_HOUR": 0, "WTF_CSRF_ENABLED": False,
    })  # fmt: skip
    with app.app_context():
        init_db(app)
    client = app.test_client()

    def upload(token: str, skill: float, seed: int) -> int:
        scores = skill * labels + np.random.default_rng(seed).normal(size=40)
        body = pd.DataFrame({"event_id": ids, "score": np.round(scores, 6)}).to_csv(index=False)
        response = client.post(
            "/api/submissions",
            data={"file": (io.BytesIO(body.encode()), f"run{seed}.csv"), "note": f"seed {seed}"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()["id"]

    submissions = []
    for team in range(4):
        response = client.post("/api/teams", json={"name": f"team {team}"})
        assert response.status_code == 201, response.get_data(as_text=True)
        token = response.get_json()["token"]
        ids_of_team = [upload(token, 1.0 + team, 10 * team + k) for k in range(3)]
        response = client.post(
            f"/api/submissions/{ids_of_team[1]}/final",
            json={"final": True},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        submissions += ids_of_team
    client.get("/api/submissions", headers={"Authorization": "Bearer wrong-token"})
    reference = folder / "reference.csv"
    scores = 2.5 * labels + np.random.default_rng(99).normal(size=40)
    pd.DataFrame({"event_id": ids, "score": scores}).to_csv(reference, index=False)
    for args in (
        ["add-reference", "matched filter", str(reference)],
        ["disqualify", "--submission", str(submissions[-1]), "--reason", "copied a file"],
        ["invite", "--count", "2"],
        ["reveal"],
    ):
        if args[0] == "invite" and "invite" not in main.commands:
            continue  # no invites before 0005
        result = CliRunner().invoke(main, args, obj=app)
        assert result.exit_code == 0, (args, result.output)


def build(revision: str, commit: str, postgres: str | None) -> None:
    """Make ``revision``'s database with ``commit``'s code and dump it next to this file."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], check=True,
                       capture_output=True)  # fmt: skip
        try:
            targets = [("sqlite", f"sqlite:///{tmp}/leaderboard.sqlite")]
            if postgres:
                targets.append(("postgresql", _pg_schema_url(postgres)))
            for backend, url in targets:
                folder = Path(tmp) / backend
                folder.mkdir()
                env = {**os.environ, "PYTHONPATH": str(tree)}
                subprocess.run([sys.executable, __file__, "--populate", url, str(folder)],
                               check=True, cwd=tree, env=env)  # fmt: skip
                dump = HERE / f"{revision}.{backend}.sql"
                if backend == "sqlite":
                    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
                    dump.write_text("\n".join(connection.iterdump()) + "\n")
                    connection.close()
                else:
                    dump.write_text(_pg_dump(postgres))
                print(f"{revision} ({commit}): wrote {dump}")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=True)


def _pg_schema_url(base: str) -> str:
    from sqlalchemy import create_engine, make_url, text

    engine = create_engine(base)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    engine.dispose()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={PG_SCHEMA}"})
    return url.render_as_string(hide_password=False)


def _pg_dump(base: str) -> str:
    from sqlalchemy import make_url

    url = make_url(base)
    env = {**os.environ, "PGPASSWORD": str(url.password or "")}
    libpq = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    result = subprocess.run(
        ["pg_dump", "--inserts", "--no-owner", "--no-privileges", "--schema", PG_SCHEMA,
         "--dbname", libpq],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    # What the tests cannot run through a driver (psql's meta-commands) or do not want.
    lines = [
        line
        for line in result.stdout.splitlines()
        if not line.startswith(("\\", "--", "SET ", "SELECT pg_catalog.set_config"))
        and not line.startswith(f"CREATE SCHEMA {PG_SCHEMA}")
    ]
    return "\n".join(line for line in lines if line.strip()) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="PostgreSQL URL (SQLAlchemy) to dump from as well")
    parser.add_argument("--only", help="one revision, e.g. 0004")
    parser.add_argument("--populate", nargs=2, metavar=("URL", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.populate:
        populate(args.populate[0], Path(args.populate[1]))
        return
    for revision, commit in RELEASES.items():
        if args.only in (None, revision):
            build(revision, commit, args.postgres)


if __name__ == "__main__":
    main()
