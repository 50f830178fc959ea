"""The hostile-input corpus: malformed submission files and hostile requests, each with the status
and the message a leaderboard must answer with.

Files are built from the answer key at test time (big ones included: nothing big is committed).
`python -m tests.hostile.corpus OUT` writes the submission files to OUT, for trying them
by hand with `challenge validate` or curl.
"""

from __future__ import annotations

import gzip
import io
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

# The limit the hostile app runs with; big cases are built relative to it.
MAX_UPLOAD_BYTES = 3_000_000
MESSAGE_MAX_CHARS = 400  # a clear message is short: it quotes, it does not echo the upload
# The validator's refusal of a file larger than any valid one for the 200 events of the harness's
# key: challenge.submission.size_bound(200) = 4 * (19 + 200 * 47) bytes.
BOUND = r"more than a submission for 200 test events can need \(at most 37,676 bytes\)"


@dataclass(frozen=True)
class Upload:
    """One request to POST /api/submissions."""

    data: bytes | None = None  # the multipart field 'file'; None sends no file
    filename: str = "submission.csv"
    note: str = ""
    form_field: str = "file"
    headers: dict = field(
        default_factory=dict
    )  # replaces the bearer header when it has Authorization
    raw_body: bytes | None = None  # sent as is, with content_type, instead of a multipart form
    content_type: str | None = None


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[pd.DataFrame], Upload]
    status: int
    message: str  # a regular expression the JSON error must match
    bug: str = ""  # a known bug that makes this case fail: it runs as a strict xfail
    hangs: bool = False  # the bug takes the server hours and gigabytes: the case is not run


def csv_bytes(key: pd.DataFrame, rows: list[str] | None = None) -> bytes:
    """A valid submission for ``key`` (scores = labels), or the header with ``rows``."""
    if rows is None:
        rows = [f"{i},{label}" for i, label in zip(key["event_id"], key["label"], strict=True)]
    return ("event_id,score\n" + "\n".join(rows) + "\n").encode()


def _rows(key: pd.DataFrame) -> list[str]:
    return csv_bytes(key).decode().splitlines()[1:]


def _with_row(key, index: int, row: str) -> bytes:
    rows = _rows(key)
    rows[index] = row
    return csv_bytes(key, rows)


def _first_id(key) -> int:
    return int(key["event_id"].iloc[0])


def _file(data: Callable[[pd.DataFrame], bytes], **upload) -> Callable[[pd.DataFrame], Upload]:
    return lambda key: Upload(data=data(key), **upload)


VALIDATOR = "challenge.submission (lead)"
FILE_CASES: list[Case] = [
    # --- empty, truncated, broken containers
    Case("empty file", _file(lambda k: b""), 400, "the file is empty"),
    Case("blank lines only", _file(lambda k: b"\n\r\n  \n"), 400, "the file is empty"),
    Case("header only", _file(lambda k: b"event_id,score\n"), 400, "header but no rows"),
    Case(
        "truncated at a row boundary",
        _file(lambda k: csv_bytes(k, _rows(k)[:50])),
        400,
        r"150 of 200 test events are missing, for example event_id",
    ),
    Case(
        "truncated inside an id",
        _file(lambda k: csv_bytes(k)[: csv_bytes(k).index(b"\n", 200) - 4]),
        400,
        r"line \d+: expected 2 fields event_id,score, got 1",
    ),
    Case(
        "truncated gzip",
        _file(lambda k: gzip.compress(csv_bytes(k))[:-20]),
        400,
        "gzip stream is truncated",
    ),
    Case(
        "gzip with data after its end",
        _file(lambda k: gzip.compress(csv_bytes(k)) + b"junk"),
        400,
        "data after its end",
    ),
    Case(
        "corrupt gzip", _file(lambda k: b"\x1f\x8b\x08\x00" + b"\xff" * 64), 400, "not valid gzip"
    ),
    Case(
        "gzip bomb",
        _file(lambda k: gzip.compress(b"event_id,score\n" + b"0" * 60_000_000, 9)),
        400,
        r"uncompressed, the file is 37,677 bytes or more, " + BOUND,
    ),
    Case(
        "8.7 million rows in 76 KB of gzip",  # issue 11, finding 3: 53 s of CPU to refuse
        _file(lambda k: gzip.compress(b"event_id,score\n" + b"0,0\n" * 8_700_000 + b"x,y\n", 9)),
        400,
        r"uncompressed, the file is 37,677 bytes or more, " + BOUND,
    ),
    Case(
        "more rows than test events, short ones",
        _file(lambda k: csv_bytes(k) + b"1,0\n" * 5_000),
        400,
        r"line 403: the file has more than 402 lines, twice the header and one row per test "
        r"event \(200\); remove the blank lines",
    ),
    Case(
        "one row more than test events",
        _file(lambda k: csv_bytes(k) + b"1,0\n"),
        400,
        r"line 202: the file has more than 200 rows; expected one row per test event \(200\)",
    ),
    Case(
        "gzip inside gzip",
        _file(lambda k: gzip.compress(gzip.compress(csv_bytes(k)))),
        400,
        r"line 1: binary content \(a NUL byte\) at column 4",
    ),
    Case("zip archive", _file(lambda k: _zip(csv_bytes(k))), 400, "binary content|not UTF-8"),
    Case(
        "PNG image",
        _file(lambda k: b"\x89PNG\r\n\x1a\n" + b"\x00" * 32),
        400,
        r"binary content \(a NUL byte\)",
    ),
    # --- encodings and binary content
    Case(
        "NUL bytes",
        _file(lambda k: csv_bytes(k).replace(b"\n", b"\x00\n", 3)),
        400,
        r"line 1: binary content \(a NUL byte\) at column 15",
    ),
    Case(
        "UTF-16 with BOM",
        _file(lambda k: csv_bytes(k).decode().encode("utf-16")),
        400,
        "UTF-16 text; save it as UTF-8",
    ),
    Case(
        "UTF-16 without BOM",
        _file(lambda k: csv_bytes(k).decode().encode("utf-16-le")),
        400,
        r"binary content \(a NUL byte\)",
    ),
    Case("UTF-32", _file(lambda k: csv_bytes(k).decode().encode("utf-32")), 400, "UTF-16 text|NUL"),
    Case(
        "Latin-1 byte",
        _file(lambda k: csv_bytes(k) + "# café\n".encode("latin-1")),
        400,
        r"line 202: not UTF-8 text: byte 0xe9",
    ),
    Case(
        "old Mac CR line ends, a bad row",
        _file(lambda k: _with_row(k, 7, f"{int(k.event_id[7])},nan").replace(b"\n", b"\r")),
        400,
        "line 9: score 'nan' is not a finite number",
    ),
    # --- shape: huge lines, a million columns, delimiters, headers
    Case(
        "a huge line",
        _file(lambda k: csv_bytes(k) + b"x" * 2_500_000 + b"\n"),
        400,
        r"the file is 2,501,816 bytes \(2\.5 MB\), " + BOUND,
    ),
    Case(
        "a huge id",
        _file(lambda k: _with_row(k, 3, "9" * 50_000 + ",0.5")),
        400,
        r"the file is 51,811 bytes, " + BOUND,
    ),
    Case(
        "a huge score",
        _file(lambda k: _with_row(k, 3, f"{_first_id(k)},{'x' * 50_000}")),
        400,
        r"the file is 51,814 bytes, " + BOUND,
    ),
    Case(
        "a million columns in a row",
        _file(lambda k: _with_row(k, 0, "1," * 1_000_000 + "1")),
        400,
        r"the file is 2,001,808 bytes \(2\.0 MB\), " + BOUND,
    ),
    Case(
        "a million columns in the header",
        _file(lambda k: b"event_id" + b",score" * 100_000 + b"\n1,2\n"),
        400,
        r"the file is 600,013 bytes, " + BOUND,
    ),
    Case(
        "semicolons",
        _file(lambda k: csv_bytes(k).replace(b",", b";")),
        400,
        "separated by ';'; expected commas",
    ),
    Case("tabs", _file(lambda k: csv_bytes(k).replace(b",", b"\t")), 400, "separated by a tab"),
    Case(
        "wrong header",
        _file(lambda k: csv_bytes(k).replace(b"event_id,score", b"id,prediction")),
        400,
        "expected the header event_id,score, got 'id,prediction'",
    ),
    Case("no header", _file(lambda k: csv_bytes(k).split(b"\n", 1)[1]), 400, "missing header"),
    Case(
        "an extra column",
        _file(lambda k: _with_row(k, 0, f"{_first_id(k)},0.5,1")),
        400,
        "line 2: expected 2 fields event_id,score, got 3",
    ),
    Case(
        "an unclosed quote",
        _file(lambda k: _with_row(k, 5, f'"{_first_id(k)},0.5')),
        400,
        "expected 2 fields event_id,score, got 1",
    ),
    # --- values
    Case(
        "NaN score",
        _file(lambda k: _with_row(k, 7, f"{int(k.event_id[7])},nan")),
        400,
        "line 9: score 'nan' is not a finite number",
    ),
    Case(
        "infinite score",
        _file(lambda k: _with_row(k, 7, f"{int(k.event_id[7])},-inf")),
        400,
        "line 9: score '-inf' is not a finite number",
    ),
    Case(
        "text score",
        _file(lambda k: _with_row(k, 7, f"{int(k.event_id[7])},high")),
        400,
        "line 9: score 'high' is not a number",
    ),
    Case(
        "formula as a score",
        _file(lambda k: _with_row(k, 7, f"{int(k.event_id[7])},=cmd|' /C calc'!A0")),
        400,
        r"line 9: score \"=cmd\|' /C calc'!A0\" is not a number",
    ),
    Case(
        "script as a score",
        _file(lambda k: _with_row(k, 7, f"{int(k.event_id[7])},<script>alert(1)</script>")),
        400,
        "line 9: score '<script>alert\\(1\\)</script>' is not a number",
    ),
    Case(
        "fractional id",
        _file(lambda k: _with_row(k, 7, "1.5,0.5")),
        400,
        "line 9: event_id '1.5' is not a 64-bit integer",
    ),
    Case(
        "id beyond int64",
        _file(lambda k: _with_row(k, 7, "9223372036854775808,0.5")),
        400,
        "line 9: event_id '9223372036854775808' is not a 64-bit integer",
    ),
    Case(
        "SQL in an id",
        _file(lambda k: _with_row(k, 7, "1; DROP TABLE submissions;--,0.5")),
        400,
        "line 9: event_id '1; DROP TABLE submissions;--' is not a 64-bit integer",
    ),
    Case(
        "a duplicated id",
        _file(lambda k: _with_row(k, 7, f"{_first_id(k)},0.5")),
        400,
        r"line 9: event_id \d+ appears again \(first on line 2\)",
    ),
    Case(
        "an unknown id",
        _file(lambda k: _with_row(k, 7, "42,0.5")),
        400,
        r"line 9: event_id 42 is not in the test set \(1 unknown ids in all\)",
    ),
    Case(
        "only one row",
        _file(lambda k: csv_bytes(k, _rows(k)[:1])),
        400,
        "199 of 200 test events are missing",
    ),
    # --- requests
    Case(
        "too large for the limit",
        _file(lambda k: csv_bytes(k) + b"\n" * MAX_UPLOAD_BYTES),
        413,
        r"the file is larger than the limit of 3,000,000 bytes \(3\.0 MB\)",
    ),
    Case(
        "oversized multipart body",
        lambda k: Upload(data=b"0" * (MAX_UPLOAD_BYTES + 2 * 1024 * 1024)),
        413,
        r"the upload is larger than the limit of 3,000,000 bytes \(3\.0 MB\)",
    ),
    Case("no file field", lambda k: Upload(data=None), 400, "no file: send the submission CSV"),
    Case(
        "file under another field name",
        lambda k: Upload(data=csv_bytes(k), form_field="upload"),
        400,
        "no file: send the submission CSV",
    ),
    Case(
        "JSON instead of multipart",
        lambda k: Upload(raw_body=b'{"file": "event_id,score"}', content_type="application/json"),
        400,
        "no file: send the submission CSV",
    ),
    Case(
        "raw CSV body, wrong content type",
        lambda k: Upload(raw_body=csv_bytes(k), content_type="text/csv"),
        400,
        "no file",
    ),
    Case(
        "multipart without a boundary",
        lambda k: Upload(raw_body=csv_bytes(k), content_type="multipart/form-data"),
        400,
        "no file|boundary",
    ),
    Case(
        "path traversal name on a bad file",
        lambda k: Upload(data=b"event_id,score\n", filename="../../../../etc/passwd"),
        400,
        "^passwd: the file has a header but no rows",
    ),
    Case(
        "formula in the note",
        lambda k: Upload(data=csv_bytes(k), note="=cmd|' /C calc'!A0" + "x" * 300),
        400,
        "the note is 318 characters long; at most 200 are allowed",
    ),
    Case(
        "bidi override in the note",
        lambda k: Upload(data=csv_bytes(k), note="ok\u202etxt.exe"),
        400,
        "the note contains the invisible or control character U\\+202E at position 3",
    ),
    Case(
        "NUL in the note",
        lambda k: Upload(data=csv_bytes(k), note="a\x00b"),
        400,
        "control character U\\+0000",
    ),
    # --- tokens
    Case(
        "no token", lambda k: Upload(data=csv_bytes(k), headers={"Authorization": ""}), 401, "token"
    ),
    Case(
        "wrong token",
        lambda k: Upload(data=csv_bytes(k), headers={"Authorization": "Bearer nope"}),
        401,
        "token",
    ),
    Case(
        "SQL injection as token",
        lambda k: Upload(data=csv_bytes(k), headers={"Authorization": "Bearer ' OR '1'='1' --"}),
        401,
        "token",
    ),
    Case(
        "basic auth instead of bearer",
        lambda k: Upload(data=csv_bytes(k), headers={"Authorization": "Basic dXNlcjpwYXNz"}),
        401,
        "token",
    ),
    Case(
        "a 6 KB token",
        lambda k: Upload(data=csv_bytes(k), headers={"Authorization": "Bearer " + "A" * 6000}),
        401,
        "token",
    ),
]


@dataclass(frozen=True)
class NameCase:
    name: str
    body: object  # the JSON body of POST /api/teams
    status: int
    message: str
    raw: bytes | None = None  # a body that is not JSON at all


REJECTED_NAMES: list[NameCase] = [
    NameCase("empty name", {"name": ""}, 400, "the team name is empty"),
    NameCase("white space only", {"name": " \t\n "}, 400, "the team name is empty"),
    NameCase(
        "very long name",
        {"name": "a" * 10_000},
        400,
        "the team name is 10000 characters long; at most 40 are allowed",
    ),
    NameCase("long after NFKC", {"name": "\ufdfa" * 3}, 400, "at most 40 are allowed"),
    NameCase("zero-width space", {"name": "Te\u200bam"}, 400, "U\\+200B at position 3"),
    NameCase("right-to-left override", {"name": "team\u202egnp.exe"}, 400, "U\\+202E"),
    NameCase("NUL byte", {"name": "a\x00b"}, 400, "U\\+0000"),
    NameCase("escape sequence", {"name": "\x1b[31mred"}, 400, "U\\+001B"),
    NameCase("lone surrogate", {"name": "a\ud800b"}, 400, "U\\+D800"),
    NameCase("private use", {"name": "\ue000team"}, 400, "U\\+E000"),
    NameCase("zalgo", {"name": "Z" + "\u0336" * 60}, 400, "at most 40"),
    NameCase("name is a number", {"name": 5}, 400, 'expected {"name": "<team name>"}'),
    NameCase("name is a list", {"name": ["a"]}, 400, 'expected {"name": "<team name>"}'),
    NameCase("body is a list", ["a"], 400, "expected a JSON object body"),
    NameCase("not JSON", None, 400, "expected a JSON object body", raw=b"name=team"),
    NameCase("invalid JSON", None, 400, "expected a JSON object body", raw=b'{"name": '),
]

# Names a team may have: they are stored as given (after NFKC and white-space clean-up) and
# must come out escaped on every page and quoted in every export.
ACCEPTED_NAMES: list[tuple[str, str]] = [
    ("<script>alert('x')</script>", "<script>alert('x')</script>"),
    ('"><img src=x onerror=alert(1)>', '"><img src=x onerror=alert(1)>'),
    ("Robert'); DROP TABLE teams;--", "Robert'); DROP TABLE teams;--"),
    ("1' OR '1'='1", "1' OR '1'='1"),
    ("=cmd|' /C calc'!A0", "=cmd|' /C calc'!A0"),
    ("+SUM(A1:A9)", "+SUM(A1:A9)"),
    ("-2+3", "-2+3"),
    ('@HYPERLINK("x")', '@HYPERLINK("x")'),
    ("\t=1+1", "=1+1"),  # leading white space is stripped, which exposes the formula
    ("{{7*7}}", "{{7*7}}"),
    ("%s%n%x", "%s%n%x"),
    ("Ωμέγα 🚀", "Ωμέγα 🚀"),
]

# Pairs that a person reads as the same name.
CONFUSABLE_PAIRS: list[tuple[str, str]] = [
    ("Team A", "ｔｅａｍ ａ"),  # full-width: NFKC folds it
    ("quarks", "QUARKS"),  # case
    ("ﬁnal", "final"),  # ligature: NFKC folds it
    ("Team A", "Team\u00a0A"),  # no-break space
]
CROSS_SCRIPT_PAIRS: list[tuple[str, str]] = [
    ("Team", "\u0422eam"),  # Cyrillic capital Te
    ("alpha", "\u0430lpha"),  # Cyrillic small a
    ("OPEN", "\u039f\u03a1\u0395\u039d"),  # all Greek capitals
    ("Axion", "\u0410\u0445\u0456on"),  # Cyrillic А, х, і
]


def _zip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("submission.csv", data)
    return buffer.getvalue()


def write_corpus(out: Path, key: pd.DataFrame) -> list[Path]:
    """Write every file case's upload to ``out`` (for trying by hand); returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number, case in enumerate(FILE_CASES):
        upload = case.build(key)
        body = upload.data if upload.data is not None else upload.raw_body
        if body is None:
            continue
        path = out / f"{number:02d}-{case.name.replace(' ', '-').replace('/', '-')}.bin"
        path.write_bytes(body)
        written.append(path)
    return written


if __name__ == "__main__":
    from tests.hostile.harness import make_site

    site = make_site(Path(sys.argv[1]))
    for path in write_corpus(Path(sys.argv[1]) / "corpus", site.key):
        print(path)
