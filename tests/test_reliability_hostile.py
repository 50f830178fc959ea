"""Hostile input against the leaderboard: every case of the corpus gets its 4xx and a clear message,
stores nothing, and the server goes on accepting valid uploads; names are escaped and exports are
safe to open in a spreadsheet.

The file cases never reach the database, so they run on SQLite only; the team-name and export
cases run on PostgreSQL as well when LEADERBOARD_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from leaderboard import create_app
from leaderboard.db import engine_of, init_db, session_scope
from leaderboard.models import Submission, Team
from tests.hostile import corpus
from tests.hostile.harness import Site, make_site, postgres_schema, submission_bytes

ADMIN = "hostile-admin-token-0123456789abcdef"


POSTGRES_URL = os.environ.get("LEADERBOARD_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (
    [pytest.param("postgresql", marks=pytest.mark.postgres)] if POSTGRES_URL else []
)
on_every_backend = pytest.mark.parametrize("site", BACKENDS, indirect=True)


@pytest.fixture
def site(tmp_path, request) -> Iterator[Site]:
    """SQLite, or PostgreSQL (a fresh schema) for the tests marked ``on_every_backend``."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield make_site(tmp_path / "site")
        return
    with postgres_schema(POSTGRES_URL) as url:
        yield make_site(tmp_path / "site", url)


@pytest.fixture
def hostile_app(site):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "hostile-secret",
            "DATABASE_URL": site.database_url,
            "ANSWER_KEY": str(site.answer_key_path),
            "UPLOAD_FOLDER": str(site.upload_folder),
            "ADMIN_TOKEN": ADMIN,
            "MAX_UPLOAD_BYTES": corpus.MAX_UPLOAD_BYTES,
            "DAILY_QUOTA": 1000,
            "REFUSED_PER_DAY": 0,  # the corpus sends many invalid files from one team
            "BAD_TOKEN_LIMIT": 10_000,  # the token cases are not about throttling
            "REGISTRATIONS_PER_HOUR": 0,
            "REGISTRATIONS_PER_DAY": 0,  # nor the name cases about the hourly limit
            "WTF_CSRF_ENABLED": False,
        }
    )
    init_db(app)
    yield app
    engine_of(app).dispose()


@pytest.fixture
def client(hostile_app):
    return hostile_app.test_client()


@pytest.fixture
def token(client) -> str:
    response = client.post("/api/teams", json={"name": "probe"})
    assert response.status_code == 201
    return response.get_json()["token"]


def stored_state(app, site: Site) -> tuple[int, int, list[str]]:
    """Teams, submissions and files on disk: what a rejected request must leave unchanged."""
    with session_scope(app) as db:
        teams = db.scalar(select(func.count(Team.id)))
        submissions = db.scalar(select(func.count(Submission.id)))
    return teams, submissions, [str(p.relative_to(site.root)) for p in site.stored_files()]


def send(client, upload: corpus.Upload, token: str):
    headers = {"Authorization": f"Bearer {token}", **upload.headers}
    if upload.raw_body is not None:
        response = client.post("/api/submissions", data=upload.raw_body,
                               content_type=upload.content_type, headers=headers)  # fmt: skip
    else:
        form = {"note": upload.note}
        if upload.data is not None:
            form[upload.form_field] = (io.BytesIO(upload.data), upload.filename)
        response = client.post("/api/submissions", data=form, headers=headers,
                               content_type="multipart/form-data")  # fmt: skip
    # The test client spools a big body to a temporary file that it never closes when the app
    # answers before reading it all (a real server owns that socket buffer instead).
    response.request.environ["wsgi.input"].close()
    return response


def _params(cases):
    """One param per case; a case with a known bug is a strict xfail (not run when it hangs)."""
    params = []
    for case in cases:
        bug = getattr(case, "bug", "")
        marks = []
        if bug:
            run = not getattr(case, "hangs", False)
            marks = [pytest.mark.xfail(strict=True, run=run, reason=bug)]
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


def test_the_corpus_is_large_enough():
    assert len(corpus.FILE_CASES) + len(corpus.REJECTED_NAMES) >= 40
    names = [c.name for c in corpus.FILE_CASES] + [c.name for c in corpus.REJECTED_NAMES]
    assert len(set(names)) == len(names)


@pytest.mark.timeout(60)  # each case takes about a second; a stuck reader fails, never hangs
@pytest.mark.parametrize("case", _params(corpus.FILE_CASES))
def test_hostile_upload_is_refused_stores_nothing_and_server_goes_on(
    hostile_app, client, site, token, case
):
    before = stored_state(hostile_app, site)
    response = send(client, case.build(site.key), token)
    assert response.status_code == case.status, response.get_data(as_text=True)[:500]
    message = response.get_json()["error"]
    assert re.search(case.message, message), message
    assert len(message) <= corpus.MESSAGE_MAX_CHARS, f"{len(message)} characters: {message[:200]}"
    assert stored_state(hostile_app, site) == before

    valid = send(client, corpus.Upload(data=submission_bytes(site.key, seed=1)), token)
    assert valid.status_code == 201, valid.get_json()


@on_every_backend
@pytest.mark.parametrize("case", _params(corpus.REJECTED_NAMES))
def test_hostile_team_name_is_refused_and_stores_nothing(hostile_app, client, site, case):
    before = stored_state(hostile_app, site)
    if case.raw is not None:
        response = client.post("/api/teams", data=case.raw, content_type="application/json")
    else:
        response = client.post("/api/teams", json=case.body)
    assert response.status_code == case.status, response.get_data(as_text=True)[:500]
    message = response.get_json()["error"]
    assert re.search(case.message, message), message
    assert len(message) <= corpus.MESSAGE_MAX_CHARS
    assert stored_state(hostile_app, site) == before
    assert client.post("/api/teams", json={"name": "after " + case.name[:20]}).status_code == 201


def test_path_traversal_file_name_is_stored_by_hash_only(
    hostile_app, client, site, token, tmp_path
):
    outside = site.root / "escaped.csv"
    name = "../" * 8 + str(outside).lstrip("/")
    response = send(
        client, corpus.Upload(data=submission_bytes(site.key, seed=2), filename=name), token
    )
    assert response.status_code == 201, response.get_json()
    sha = response.get_json()["sha256"]
    assert not outside.exists()
    files = [str(p.relative_to(site.upload_folder)) for p in site.stored_files()]
    assert files == [f"{sha[:2]}/{sha}.csv.gz"]
    with session_scope(hostile_app) as db:
        assert db.scalar(select(Submission.filename)) == "escaped.csv"


@pytest.mark.parametrize(
    ("filename", "shown"),
    [
        # werkzeug unescapes the backslashes of a quoted file name: what arrives has no separator.
        ("..\\..\\windows\\system32\\evil.csv", "....windowssystem32evil.csv"),
        ("..%2F..%2Fevil.csv", "..%2F..%2Fevil.csv"),
        ("a\x00b.csv", "ab.csv"),
        ("\u202ecsv.exe", "csv.exe"),
        ("x" * 5000 + ".csv", "x" * 200),
        ("", "submission.csv"),
        ("../", "submission.csv"),
    ],
    ids=[
        "windows traversal",
        "url-encoded traversal",
        "NUL",
        "bidi override",
        "5000 characters",
        "empty",
        "only a folder",
    ],
)
def test_uploaded_file_names_are_cleaned_for_display(
    hostile_app, client, site, token, filename, shown
):
    response = send(
        client, corpus.Upload(data=submission_bytes(site.key, seed=3), filename=filename), token
    )
    assert response.status_code == 201, response.get_json()
    with session_scope(hostile_app) as db:
        assert db.scalar(select(Submission.filename)) == shown


@on_every_backend
@pytest.mark.parametrize(
    ("given", "stored"), corpus.ACCEPTED_NAMES, ids=[n for n, _ in corpus.ACCEPTED_NAMES]
)
def test_hostile_but_acceptable_names_are_stored_exactly_and_escaped(
    hostile_app, client, site, given, stored
):
    response = client.post("/api/teams", json={"name": given})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["team"] == stored
    token = response.get_json()["token"]
    note = "<b>note</b> =1+1"
    assert (
        send(
            client, corpus.Upload(data=submission_bytes(site.key, seed=4), note=note), token
        ).status_code
        == 201
    )
    with session_scope(hostile_app) as db:
        assert db.scalars(select(Team.name)).all() == [stored]  # the tables are intact
    team_id = client.get("/api/leaderboard").get_json()["rows"][0]["team_id"]
    for page in ("/", f"/teams/{team_id}"):
        text = client.get(page).get_data(as_text=True)
        assert str(escape(stored)) in text, page  # as Jinja escapes it
        if "<" in stored:
            assert stored not in text, f"{page} shows the name unescaped"
    assert client.get("/api/leaderboard").get_json()["rows"][0]["team"] == stored


@on_every_backend
@pytest.mark.parametrize(("first", "second"), corpus.CONFUSABLE_PAIRS)
def test_confusable_names_are_taken(client, first, second):
    assert client.post("/api/teams", json={"name": first}).status_code == 201
    response = client.post("/api/teams", json={"name": second})
    assert response.status_code == 409, response.get_json()
    assert "is already taken" in response.get_json()["error"]


@on_every_backend
@pytest.mark.parametrize(("first", "second"), corpus.CROSS_SCRIPT_PAIRS)
def test_cross_script_lookalike_names_are_refused(client, first, second):
    assert client.post("/api/teams", json={"name": first}).status_code == 201
    response = client.post("/api/teams", json={"name": second})
    assert response.status_code == 409, response.get_json()
    assert first in response.get_json()["error"] or "already taken" in response.get_json()["error"]


# ----------------------------------------------------------------------------- exports

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def assert_spreadsheet_safe(text: str) -> list[list[str]]:
    """No cell a spreadsheet would run: one starting with = + - @ tab or CR must be a plain number."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    for row in rows:
        for cell in row:
            if cell.startswith(FORMULA_START):
                try:
                    float(cell)
                except ValueError:
                    pytest.fail(f"cell {cell!r} would run as a formula in a spreadsheet")
    return rows


HOSTILE_CELLS = ["=cmd|' /C calc'!A0", "+1+2", "-1+2", "@SUM(A1)", '=HYPERLINK("http://x")']


def _fill_with_formulas(client, site):
    for number, text in enumerate(HOSTILE_CELLS):
        token = client.post("/api/teams", json={"name": text}).get_json()["token"]
        upload = corpus.Upload(data=submission_bytes(site.key, seed=10 + number), note=text,
                               filename=text + ".csv")  # fmt: skip
        assert send(client, upload, token).status_code == 201


@on_every_backend
@pytest.mark.parametrize("what", ["leaderboard", "submissions"])
def test_admin_exports_are_spreadsheet_safe(hostile_app, client, site, what):
    _fill_with_formulas(client, site)
    response = client.get(f"/admin/export/{what}.csv", headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    rows = assert_spreadsheet_safe(response.get_data(as_text=True))
    cells = {cell for row in rows for cell in row}
    for text in HOSTILE_CELLS:
        assert "'" + text in cells  # kept, with the apostrophe that makes it text


@on_every_backend
@pytest.mark.parametrize("what", ["leaderboard", "submissions"])
def test_cli_exports_are_spreadsheet_safe_after_the_reveal(
    hostile_app, client, site, what, tmp_path
):
    from click.testing import CliRunner

    from leaderboard.cli import main

    _fill_with_formulas(client, site)
    runner = CliRunner()
    assert runner.invoke(main, ["reveal"], obj=hostile_app).exit_code == 0
    out = tmp_path / f"{what}.csv"
    result = runner.invoke(main, ["export", what, "--output", str(out)], obj=hostile_app)
    assert result.exit_code == 0, result.output
    rows = assert_spreadsheet_safe(out.read_text(encoding="utf-8"))
    assert len(rows) == 1 + len(HOSTILE_CELLS)


# ----------------------------------------------------------------------------- on the wire


def _raw_exchange(port: int, payload: bytes, *, timeout: float = 10) -> bytes:
    """Send raw bytes to the server and read until it closes or goes quiet; returns the reply."""
    import socket

    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        try:
            while len(reply) < 65536:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except TimeoutError:
            pass
    return reply


@pytest.mark.slow
def test_a_real_waitress_server_survives_hostile_requests_on_the_wire(tmp_path):
    import requests

    from tests.hostile.harness import live_server, register, upload

    site = make_site(tmp_path / "wire")
    with live_server(site, LEADERBOARD_MAX_UPLOAD_BYTES=str(corpus.MAX_UPLOAD_BYTES)) as live:
        token = register(live.url, "wire")
        # Not HTTP at all, then a request line of 64 KB: waitress answers 400 or closes.
        for garbage in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
                        b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\nHost: x\r\n\r\n"):  # fmt: skip
            reply = _raw_exchange(live.port, garbage)
            assert reply == b"" or reply.startswith(b"HTTP/1.") and b" 500 " not in reply[:20]
        # A body that is shorter than its Content-Length: the server gives up, nothing stored.
        body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nevent'
        head = (f"POST /api/submissions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n")  # fmt: skip
        reply = _raw_exchange(live.port, head.encode() + body)
        assert b" 500 " not in reply[:20] and b" 201 " not in reply[:20], reply[:200]
        # An oversized body announced honestly: 413 with JSON that names the limit.
        response = requests.post(live.url + "/api/submissions", headers={"Authorization": f"Bearer {token}"},
                                 files={"file": ("big.csv", b"0" * (corpus.MAX_UPLOAD_BYTES + 2**21))},
                                 timeout=60)  # fmt: skip
        assert response.status_code == 413, response.text[:300]
        assert "larger than the limit of 3,000,000 bytes (3.0 MB)" in response.json()["error"]
        # A chunked upload (Transfer-Encoding: chunked, no Content-Length) of a valid file.
        data = submission_bytes(site.key, seed=5)
        body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="c.csv"\r\n'
                b"Content-Type: text/csv\r\n\r\n" + data + b"\r\n--b--\r\n")  # fmt: skip
        chunked = requests.post(
            live.url + "/api/submissions",
            data=iter([body[:1000], body[1000:]]),
            headers={"Authorization": f"Bearer {token}",
                     "Content-Type": "multipart/form-data; boundary=b"},
            timeout=30,
        )  # fmt: skip
        assert chunked.request.headers.get("Transfer-Encoding") == "chunked"
        assert chunked.status_code == 201, chunked.text
        assert upload(live.url, token, submission_bytes(site.key, seed=6)).status_code == 201
        assert requests.get(live.url + "/", timeout=10).status_code == 200
        assert " 500 " not in live.output() and "Traceback" not in live.output(), live.output()[
            -2000:
        ]
    assert count_submissions(site) == 2


def count_submissions(site) -> int:
    """The number of stored submissions of a site, read with a throwaway engine."""
    from sqlalchemy import create_engine

    engine = create_engine(site.database_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(Submission.__table__))
    finally:
        engine.dispose()
