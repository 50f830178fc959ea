"""Reads and validates submission files: the one validator that the CLI and the leaderboard share.

A submission is a CSV file (optionally gzip-compressed) with the header ``event_id,score`` and
one row per test event, in any order; scores are finite reals, higher meaning more carrier-like.
Knowing the number of test events bounds the work: a file with more rows, or more bytes than any
valid file can need, is refused before it is parsed.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
import re
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

HEADER = ("event_id", "score")
# The upload limit, on the file and on its decompressed content; the leaderboard's default too.
DEFAULT_MAX_BYTES = 50_000_000
# The longest row a well-formed file needs: a 20-character id ("-9223372036854775808"), a comma,
# the 24 characters of the longest shortest repr of a float64 ("-2.2250738585072014e-308"), CRLF.
MAX_ROW_BYTES = 20 + 1 + 24 + 2
HEADER_BYTES = 3 + len("event_id,score") + 2  # a UTF-8 byte-order mark, the header, CRLF
# A valid file may be this many times the largest well-formed one: quotes, spaces, blank lines,
# scores written with more digits. More bytes than that are refused unread.
SIZE_SLACK = 4
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")  # 2**63 has 19 digits
_NUMBER = re.compile(
    r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(nan|inf|infinity)", re.I
)
_SHOWN = 5  # ids quoted in a message about missing or unknown ids
# pandas' C reader takes time quadratic in the fields of a row: longer lines go to the strict parser.
_FAST_LINE_LIMIT = 1000


class SubmissionError(ValueError):
    """A submission that breaks the format; the message says what, where and what was expected."""

    def __init__(self, message: str, *, line: int | None = None):
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)


def read_submission(
    source: str | os.PathLike | bytes | BinaryIO,
    *,
    expected_ids: np.ndarray | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    name: str | None = None,
) -> pd.DataFrame:
    """Read a submission and check it, raising ``SubmissionError`` on the first problem.

    Parameters
    ----------
    source : path of a ``.csv`` or ``.csv.gz`` file, its bytes, or a binary file object.
    expected_ids : array of shape (n,), the test set's event ids; when given, the submission must
        hold each of them exactly once and nothing else, and reading stops as soon as the file
        has more than n rows or more than ``size_bound(n)`` bytes once decompressed.
    max_bytes : limit on the file's size, compressed and uncompressed.
    name : shown in front of every message (for example the file's name).

    Returns
    -------
    DataFrame with columns ``event_id`` (int64) and ``score`` (float64), in file order.
    """
    n_events = None if expected_ids is None else int(np.size(expected_ids))
    try:
        data = _decompress(_read_bytes(source, max_bytes), max_bytes, n_events)
        text = _decode(data)
        if n_events is not None:
            _check_row_count(data, n_events)
        submission = _parse(text, data, fast=_longest_line(data) <= _FAST_LINE_LIMIT)
        if expected_ids is not None:
            _check_ids(submission, np.asarray(expected_ids), text)
    except SubmissionError as err:
        if name is None:
            raise
        raise SubmissionError(f"{name}: {err}") from None
    return submission


def size_bound(n_events: int) -> int:
    """The most bytes, decompressed, that a valid submission for ``n_events`` test events may have.

    ``SIZE_SLACK`` times the largest well-formed file: a header with a byte-order mark and
    ``n_events`` rows of ``MAX_ROW_BYTES`` (the longest int64 id and float64 repr, CRLF).
    """
    return SIZE_SLACK * (HEADER_BYTES + n_events * MAX_ROW_BYTES)


def format_size(n_bytes: int) -> str:
    """A size as every message gives it: exact bytes, and megabytes (10**6 bytes) when large."""
    text = f"{n_bytes:,} bytes"
    return text + f" ({n_bytes / 1e6:.1f} MB)" if n_bytes >= 1_000_000 else text


def write_submission(path: str | os.PathLike, event_id, score) -> Path:
    """Write a submission file with the header ``event_id,score``; returns its path."""
    event_id, score = np.asarray(event_id, dtype=np.int64), np.asarray(score, dtype=np.float64)
    if event_id.shape != score.shape or event_id.ndim != 1:
        raise ValueError(
            f"event_id {event_id.shape} and score {score.shape} must be 1-d, same size"
        )
    if not np.isfinite(score).all():
        raise ValueError(f"score holds {int((~np.isfinite(score)).sum())} non-finite values")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"event_id": event_id, "score": score}).to_csv(path, index=False)
    return path


def _read_bytes(source, max_bytes: int) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise SubmissionError(f"no such file: {str(path)!r}")
        if path.stat().st_size > max_bytes:
            raise SubmissionError(_too_large("the file is", path.stat().st_size, max_bytes))
        data = path.read_bytes()
    else:
        data = source.read(max_bytes + 1)  # one byte more than allowed tells "over" from "at"
        if len(data) > max_bytes:
            raise SubmissionError(_too_large("the file is", len(data), max_bytes, at_least=True))
    if len(data) > max_bytes:
        raise SubmissionError(_too_large("the file is", len(data), max_bytes))
    return data


def _too_large(what: str, size: int, limit: int, *, at_least: bool = False) -> str:
    """``at_least``: reading stopped past the limit, so ``size`` is a lower bound."""
    more = " or more" if at_least else ""
    return f"{what} {format_size(size)}{more}, over the limit of {format_size(limit)}"


def _decompress(data: bytes, max_bytes: int, n_events: int | None) -> bytes:
    """Gunzip ``data`` if it starts with the gzip magic number, never inflating past the limit.

    The limit is ``max_bytes``, or ``size_bound(n_events)`` when that is smaller.
    """
    limit = max_bytes if n_events is None else min(max_bytes, size_bound(n_events))
    gzipped = data.startswith(b"\x1f\x8b")
    if gzipped:
        inflater = zlib.decompressobj(wbits=31)
        try:
            data = inflater.decompress(data, limit + 1)  # stops one byte past the limit
        except zlib.error as err:
            raise SubmissionError(
                f"the file is not valid gzip ({err}); expected a .csv or .csv.gz"
            ) from None
        if len(data) <= limit and (not inflater.eof or inflater.unused_data):
            raise SubmissionError("the gzip stream is truncated or has data after its end")
    if len(data) <= limit:
        return data
    what = "uncompressed, the file is" if gzipped else "the file is"
    if limit == max_bytes:
        raise SubmissionError(_too_large(what, len(data), limit, at_least=gzipped))
    raise SubmissionError(
        f"{what} {format_size(len(data))}{' or more' if gzipped else ''}, more than a submission "
        f"for {n_events:,} test events can need (at most {format_size(limit)})"
    )


def _check_row_count(data: bytes, n_events: int) -> None:
    """Refuse a file with more rows than test events before parsing it, naming the first extra.

    Lines end at LF, CRLF or a lone CR, as the csv module reads them; blank lines are no rows,
    but a file may have at most as many lines again as it needs (the strict reader steps
    through every line, blank or not).
    """
    line_ends = data.count(b"\n")
    if b"\r" in data:  # one pass for a file with LF line ends, the most common
        line_ends += data.count(b"\r") - data.count(b"\r\n")
    lines = line_ends + (not data.endswith((b"\n", b"\r")))  # the last may have no line end
    if lines <= n_events + 1:  # the header and n_events rows at most: a valid file stops here
        return
    max_lines = 2 * (n_events + 1)
    if line_ends > max_lines:
        raise SubmissionError(
            f"the file has more than {max_lines:,} lines, twice the header and one row per test "
            f"event ({n_events:,}); remove the blank lines",
            line=max_lines + 1,
        )
    _refuse_extra_rows(data, n_events)


def _refuse_extra_rows(data: bytes, n_events: int) -> None:
    """The line-by-line walk (blank lines skipped) for a file with more lines than rows allowed."""
    rows = (number for number, line in enumerate(data.splitlines(), 1) if line.strip())
    for count, number in enumerate(rows):
        if count > n_events:  # the header, then n_events rows
            raise SubmissionError(
                f"the file has more than {n_events:,} rows; expected one row per test event "
                f"({n_events:,})",
                line=number,
            )


def _decode(data: bytes) -> str:
    if not data.strip():
        raise SubmissionError(
            "the file is empty; expected the header event_id,score and one row per test event"
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SubmissionError("the file is UTF-16 text; save it as UTF-8 (plain CSV)")
    nul = data.find(b"\x00")
    if nul >= 0:
        line, column = _position(data, nul)
        raise SubmissionError(
            f"binary content (a NUL byte) at column {column}; expected a CSV text file", line=line
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line, column = _position(data, err.start)
        raise SubmissionError(
            f"not UTF-8 text: byte 0x{data[err.start]:02x} at column {column}; save the file as UTF-8",
            line=line,
        ) from None


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of a byte offset."""
    return data.count(b"\n", 0, offset) + 1, offset - data.rfind(b"\n", 0, offset)


def _longest_line(data: bytes) -> int:
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    return int(np.diff(newlines, prepend=-1, append=len(data)).max())


# The first line after the header that is not blank.
_FIRST_ROW = re.compile(r"(?:\r\n|\r|\n)[ \t\r\n]*([^\r\n]+)")


def _parse(text: str, data: bytes, *, fast: bool) -> pd.DataFrame:
    """The rows of ``text``, the decoded ``data``: pandas reads the bytes (a quarter faster
    than the decoded text), the strict parser the text."""
    _check_header(re.split(r"\r\n|\r|\n", text, maxsplit=1)[0])
    # pandas takes the number of columns from the first row and costs time in their number:
    # a wide first row goes to the strict parser, which refuses it at once.
    first_row = _FIRST_ROW.search(text)
    fast = fast and first_row is not None and first_row.group(1).count(",") == 1
    frame = _parse_fast(data) if fast else None
    if frame is None:
        frame = _parse_strictly(text)
    if frame.empty:
        raise SubmissionError("the file has a header but no rows; expected one row per test event")
    return frame


def _parse_fast(data: bytes) -> pd.DataFrame | None:
    """Parse with pandas' C reader, or return None unless every value is plainly valid.
    ``data`` is valid UTF-8 without NUL bytes (``_decode``); a byte-order mark is on the
    header line, which is skipped.

    pandas is lenient (it turns "1e3" into the id 1000, "True" into the score 1, and drops the
    empty field after a trailing comma), so only a file that comes out as exactly two columns,
    ids as integers and scores as finite numbers passes here; anything else goes to the strict
    parser, which decides and names the first bad row.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            frame = pd.read_csv(
                io.BytesIO(data),
                header=None,
                skiprows=1,
                skipinitialspace=True,
                engine="c",
            )
    except (ValueError, OverflowError, Warning):
        return None
    if frame.shape[1] != len(HEADER):
        return None
    ids, scores = frame[0], frame[1]
    if ids.dtype != np.int64 or scores.dtype.kind not in "if":
        return None
    scores = scores.to_numpy(dtype=np.float64)
    if not np.isfinite(scores).all():
        return None
    return pd.DataFrame({"event_id": ids.to_numpy(), "score": scores})


def _check_header(first_line: str) -> None:
    try:
        fields = [f.strip() for f in next(csv.reader([first_line]), [])]
    except csv.Error:  # a field over the csv module's size limit
        fields = [first_line]
    if tuple(fields) == HEADER:
        return
    shown = _quote(first_line, 80)
    if len(fields) == 1:
        for delimiter, label in ((";", "';'"), ("\t", "a tab"), ("|", "'|'")):
            if delimiter in first_line:
                raise SubmissionError(
                    f"the header {shown} is separated by {label}; expected commas: event_id,score",
                    line=1,
                )
    if fields and _INTEGER.fullmatch(fields[0]):
        raise SubmissionError(
            f"missing header: the file starts with the row {shown}; expected event_id,score first",
            line=1,
        )
    raise SubmissionError(
        f"expected the header event_id,score, got {shown} ({len(fields)} columns)", line=1
    )


def _parse_strictly(text: str) -> pd.DataFrame:
    """Parse row by row with Python's csv module, raising on the first row that breaks the format."""
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)  # as pandas reads
    ids, scores = [], []
    try:
        next(reader)
        for row in reader:
            if row and (len(row) > 1 or row[0].strip()):  # not a blank line
                event_id, score = _check_row(row, reader.line_num)
                ids.append(event_id)
                scores.append(score)
    except csv.Error as err:
        raise SubmissionError(f"not a valid CSV row: {err}", line=reader.line_num) from None
    return pd.DataFrame(
        {"event_id": np.array(ids, dtype=np.int64), "score": np.array(scores, dtype=np.float64)}
    )


def _check_row(row: list[str], line: int) -> tuple[int, float]:
    if len(row) != 2:
        shown = _quote(",".join(row[:40]), 80)
        hint = " (is ';' or a tab the delimiter? use commas)" if re.search(r"[;\t|]", shown) else ""
        raise SubmissionError(
            f"expected 2 fields event_id,score, got {len(row)}: {shown}{hint}", line=line
        )
    event_id, score = (field.strip() for field in row)
    if not _INTEGER.fullmatch(event_id) or not -(2**63) <= int(event_id) < 2**63:
        raise SubmissionError(f"event_id {_quote(event_id)} is not a 64-bit integer", line=line)
    if not _NUMBER.fullmatch(score):
        raise SubmissionError(f"score {_quote(score)} is not a number", line=line)
    value = float(score)
    if not math.isfinite(value):
        raise SubmissionError(f"score {_quote(score)} is not a finite number", line=line)
    return int(event_id), value


def _quote(text: str, limit: int = 40) -> str:
    """A user's text for a message: quoted, and cut short when long."""
    return repr(text[:limit] + ("..." if len(text) > limit else ""))


def _row_line(text: str, row: int) -> int:
    """The file line of data row ``row`` (0-based): blank lines are no rows. For messages only."""
    filled = (n for n, line in enumerate(re.split(r"\r\n|\r|\n", text), 1) if line.strip())
    return next(itertools.islice(filled, row + 1, None))  # the first filled line is the header


def _check_ids(submission: pd.DataFrame, expected_ids: np.ndarray, text: str) -> None:
    ids = submission["event_id"].to_numpy()
    duplicated = submission["event_id"].duplicated()
    if duplicated.any():
        first = int(np.flatnonzero(duplicated.to_numpy())[0])
        earlier = int(np.flatnonzero(ids == ids[first])[0])
        raise SubmissionError(
            f"event_id {ids[first]} appears again (first on line {_row_line(text, earlier)}); "
            f"{int(duplicated.sum())} repeated rows in all, expected each test event once",
            line=_row_line(text, first),
        )
    unknown = np.flatnonzero(~np.isin(ids, expected_ids))
    if unknown.size:
        raise SubmissionError(
            f"event_id {ids[unknown[0]]} is not in the test set "
            f"({unknown.size} unknown ids in all)",
            line=_row_line(text, int(unknown[0])),
        )
    if len(ids) < expected_ids.size:  # no repeats and no strangers: the rest are missing
        missing = expected_ids[~np.isin(expected_ids, ids)]
        shown = ", ".join(str(i) for i in missing[:_SHOWN]) + (
            ", ..." if missing.size > _SHOWN else ""
        )
        raise SubmissionError(
            f"{missing.size} of {expected_ids.size} test events are missing, "
            f"for example event_id {shown}; expected one row per test event"
        )
