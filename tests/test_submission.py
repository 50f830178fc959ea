"""The submission validator: every documented error, and the formats it must accept."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
import pytest

from challenge.submission import (
    HEADER_BYTES,
    MAX_ROW_BYTES,
    SIZE_SLACK,
    SubmissionError,
    read_submission,
    size_bound,
    write_submission,
)

IDS = np.array([11, 22, 33])
GOOD = b"event_id,score\n11,0.5\n22,1e-3\n33,-2\n"


def read(data: bytes, **kwargs) -> pd.DataFrame:
    return read_submission(data, expected_ids=IDS, **kwargs)


@pytest.mark.parametrize(
    "data",
    [
        GOOD,
        GOOD.replace(b"\n", b"\r\n"),  # CRLF line ends
        b"\xef\xbb\xbf" + GOOD,  # UTF-8 byte-order mark
        b'"event_id","score"\n"11","0.5"\n22,"1e-3"\n33,-2\n',  # quoted fields
        b"event_id,score\n11,5E-1\n22,0.1E-1\n33,-2.0e+0\n".replace(b"0.1E-1", b"1e-3"),
        b"event_id, score\n 11 , 0.5\n22,1e-3\n33,-2\n\n",  # spaces and a trailing blank line
        b"event_id,score\n11,0.5\n22,1e-3\n33,-2",  # no final newline
        gzip.compress(GOOD, mtime=0),
    ],
    ids=["plain", "crlf", "bom", "quoted", "scientific", "spaces", "no-final-newline", "gzip"],
)
def test_accepts_the_documented_variants(data):
    frame = read(data)
    assert frame["event_id"].tolist() == [11, 22, 33]
    assert frame["score"].tolist() == [0.5, 1e-3, -2.0]
    assert frame.dtypes.tolist() == [np.int64, np.float64]


def test_any_row_order_is_accepted():
    frame = read(b"event_id,score\n33,3\n11,1\n22,2\n")
    assert frame.set_index("event_id")["score"].to_dict() == {11: 1.0, 22: 2.0, 33: 3.0}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"\n \n", "the file is empty"),
        (b"event_id,score\n", "header but no rows"),
        (b"11,0.5\n22,1\n33,2\n", "missing header: the file starts with the row '11,0.5'"),
        (
            b"id,prediction\n11,0.5\n",
            "line 1: expected the header event_id,score, got 'id,prediction'",
        ),
        (b"event_id,score,extra\n11,0.5,1\n", r"got 'event_id,score,extra' \(3 columns\)"),
        (b"event_id;score\n11;0.5\n", "line 1: the header 'event_id;score' is separated by ';'"),
        (b"event_id\tscore\n11\t0.5\n", "separated by a tab"),
        (
            b"event_id,score\n11,0.5\n22;1\n33,2\n",
            "line 3: expected 2 fields event_id,score, got 1: '22;1' \\(is ';'",
        ),
        (b"event_id,score\n11,0.5,9\n", "line 2: expected 2 fields event_id,score, got 3"),
        (b"event_id,score\n11,0.5\n22\n", "line 3: expected 2 fields"),
        (b"event_id,score\n11,abc\n", "line 2: score 'abc' is not a number"),
        (b"event_id,score\n11,0.5\n22,nan\n", "line 3: score 'nan' is not a finite number"),
        (b"event_id,score\n11,0.5\n22,-inf\n", "line 3: score '-inf' is not a finite number"),
        (b"event_id,score\n11,0.5\n22,\n", "line 3: score '' is not a number"),
        (b"event_id,score\n1.5,0.5\n", "line 2: event_id '1.5' is not a 64-bit integer"),
        (b"event_id,score\nx7,0.5\n", "line 2: event_id 'x7' is not a 64-bit integer"),
        (b"event_id,score\n99999999999999999999,0.5\n", "not a 64-bit integer"),
        # 2**63, one past the largest int64: it has 19 digits, as int64's own do
        (
            b"event_id,score\n9223372036854775808,0.5\n",
            "line 2: event_id '9223372036854775808' is not a 64-bit integer",
        ),
        (
            b"event_id,score\n11,0.5\n22,0.1\n11,0.7\n",
            "line 4: event_id 11 appears again \\(first on line 2\\)",
        ),
        (
            b"event_id,score\n11,0.5\n22,0.1\n44,0.7\n",
            "line 4: event_id 44 is not in the test set \\(1 unknown",
        ),
        (
            b"event_id,score\n11,0.5\n",
            "2 of 3 test events are missing, for example event_id 22, 33",
        ),
        (
            b"event_id,score\n11,0.5\n22,0.1\n",
            "1 of 3 test events are missing, for example event_id 33",
        ),
        ("event_id,score\n11,0.5\n".encode("utf-16"), "UTF-16 text; save it as UTF-8"),
        (b"event_id,score\n11,0.\x005\n", "line 2: binary content \\(a NUL byte\\) at column 6"),
        (b"event_id,score\n11,0.5\n22,\xe9\n", "line 3: not UTF-8 text: byte 0xe9 at column 4"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary content"),
        (gzip.compress(GOOD, mtime=0)[:-12], "gzip stream is truncated"),
        (b"\x1f\x8b\x08\x00garbage", "gzip stream is truncated"),
        (gzip.compress(GOOD, mtime=0)[:10] + b"\xff" * 20, "not valid gzip"),
        (b'event_id,score\n11,"0.5\n22,1\n', "line 3: score '0.5\\\\n22,1' is not a number"),
        (
            b"event_id,score\n11," + b"9" * 200_000 + b"\n",
            "the file is 200,019 bytes, more than a submission for 3 test events can need "
            "\\(at most 640 bytes\\)",
        ),
    ],
    ids=lambda value: value[:40] if isinstance(value, str) else None,
)
def test_each_problem_gets_a_message_naming_it_and_its_line(data, message):
    with pytest.raises(SubmissionError, match=message):
        read(data)


def test_line_is_an_attribute_too():
    with pytest.raises(SubmissionError) as info:
        read(b"event_id,score\n11,0.5\n22,oops\n")
    assert info.value.line == 3


def test_size_limit_on_the_file_and_on_its_uncompressed_content():
    with pytest.raises(SubmissionError, match="^the file is 36 bytes, over the limit of 10 bytes$"):
        read(GOOD, max_bytes=10)
    bomb = gzip.compress(b"0" * 5_000_000)  # 5 kB that inflate to 5 MB
    assert len(bomb) < 10_000
    with pytest.raises(
        SubmissionError,
        match=r"^uncompressed, the file is 1,000,001 bytes \(1\.0 MB\) or more, over the limit of "
        r"1,000,000 bytes \(1\.0 MB\)$",
    ):
        read_submission(bomb, max_bytes=1_000_000)


def test_a_huge_field_is_refused_by_the_csv_reader_without_an_event_count():
    with pytest.raises(
        SubmissionError, match="line 2: not a valid CSV row: field larger than field limit"
    ):
        read_submission(b"event_id,score\n11," + b"9" * 200_000 + b"\n")


def test_reads_paths_and_file_objects_and_prefixes_the_name(tmp_path):
    path = tmp_path / "sub.csv.gz"
    path.write_bytes(gzip.compress(GOOD, mtime=0))
    assert read_submission(path, expected_ids=IDS)["score"].tolist() == [0.5, 1e-3, -2.0]
    assert read_submission(io.BytesIO(GOOD))["event_id"].tolist() == [11, 22, 33]
    with pytest.raises(SubmissionError, match=r"^mine.csv: line 1: expected the header"):
        read_submission(b"a,b\n1,2\n", name="mine.csv")
    with pytest.raises(SubmissionError, match="no such file"):
        read_submission(tmp_path / "absent.csv")
    big = tmp_path / "big.csv"
    big.write_bytes(GOOD * 100)
    with pytest.raises(SubmissionError, match="over the limit"):
        read_submission(big, max_bytes=100)


def test_without_expected_ids_only_the_format_is_checked():
    assert len(read_submission(b"event_id,score\n5,1\n6,2\n")) == 2


def test_write_then_read_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.permutation(10_000).astype(np.int64) * 7 + 3
    scores = rng.normal(size=ids.size) * 10.0 ** rng.integers(-30, 30, ids.size)
    path = write_submission(tmp_path / "out" / "submission.csv", ids, scores)
    frame = read_submission(path, expected_ids=ids)
    np.testing.assert_array_equal(frame["event_id"], ids)
    np.testing.assert_array_equal(frame["score"], scores)


def test_write_refuses_what_read_would_reject(tmp_path):
    with pytest.raises(ValueError, match="non-finite"):
        write_submission(tmp_path / "s.csv", [1, 2], [0.1, np.nan])
    with pytest.raises(ValueError, match="same size"):
        write_submission(tmp_path / "s.csv", [1, 2], [0.1])


# ----------------------------------------------------------------------------- bounded cost
# Issue 11, finding 3: the number of test events bounds a valid file, so a file past that bound
# is refused before it is parsed (a 76 KB gzip of 8.7 million rows took 53 s to refuse).


def test_the_size_bound_is_the_largest_well_formed_file_times_the_slack():
    # "-9223372036854775808,-2.2250738585072014e-308\r\n" is the longest well-formed row.
    longest = "-9223372036854775808,-2.2250738585072014e-308\r\n"
    assert MAX_ROW_BYTES == len(longest) == 47
    assert HEADER_BYTES == len("\ufeffevent_id,score\r\n".encode()) == 19
    assert size_bound(10_000) == SIZE_SLACK * (19 + 10_000 * 47) == 1_880_076


def _padded(n_bytes: int) -> bytes:
    """GOOD and a line of spaces, exactly ``n_bytes`` long: valid (the line is blank)."""
    return GOOD + b" " * (n_bytes - len(GOOD) - 1) + b"\n"


def test_a_file_at_the_size_bound_is_read_and_one_byte_more_is_refused():
    bound = size_bound(IDS.size)
    assert read(_padded(bound))["event_id"].tolist() == [11, 22, 33]
    assert read(gzip.compress(_padded(bound)))["event_id"].tolist() == [11, 22, 33]
    message = f"more than a submission for 3 test events can need \\(at most {bound} bytes\\)$"
    with pytest.raises(SubmissionError, match=f"^the file is {bound + 1} bytes, " + message):
        read(_padded(bound + 1))
    with pytest.raises(SubmissionError, match="^uncompressed, the file is .* or more, " + message):
        read(gzip.compress(_padded(bound + 1)))


def test_more_rows_than_test_events_are_refused_at_the_first_extra_row():
    four = GOOD + b"\n\n  \n44,0.5\n"  # blank lines are no rows
    with pytest.raises(
        SubmissionError,
        match=r"^line 8: the file has more than 3 rows; expected one row per test event \(3\)$",
    ):
        read(four)
    for line_end in (b"\r\n", b"\r"):
        with pytest.raises(SubmissionError, match="^line 5: the file has more than 3 rows"):
            read((GOOD + b"44,0.5\n").replace(b"\n", line_end))


def test_a_file_with_one_row_per_event_skips_the_line_by_line_walk(monkeypatch):
    """Counting line ends decides for a valid file, with or without its last line end: the walk
    over every line (0.2 s for 100,000 rows) is only for files with more lines than allowed."""
    walked = []
    monkeypatch.setattr("challenge.submission._refuse_extra_rows", lambda *a: walked.append(a))
    for data in (GOOD, GOOD.rstrip(b"\n"), GOOD.replace(b"\n", b"\r\n")):
        read(data)
    assert walked == []
    read(GOOD + b"\n")  # one line more than rows allowed: walked, and valid (a blank line)
    assert len(walked) == 1


def test_an_extra_row_without_a_line_end_is_refused():
    with pytest.raises(SubmissionError, match="^line 5: the file has more than 3 rows"):
        read(GOOD + b"44,0.5")


def _never_parse(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the file was parsed; it should have been refused unread")

    monkeypatch.setattr("challenge.submission._parse", fail)


def test_millions_of_rows_in_a_tiny_gzip_are_refused_unparsed(monkeypatch):
    # The file of the finding: 76 KB of gzip, 8.7 million rows, the last one bad.
    bomb = gzip.compress(b"event_id,score\n" + b"0,0\n" * 8_700_000 + b"x,y\n", 9)
    assert len(bomb) < 80_000
    _never_parse(monkeypatch)
    with pytest.raises(SubmissionError, match="more than a submission for 3 test events can need"):
        read(bomb)


def test_many_short_rows_under_the_size_bound_are_refused_unparsed(monkeypatch):
    ids = np.arange(1_000)
    short = b"event_id,score\n" + b"1,0\n" * (size_bound(ids.size) // 4 - 10)
    _never_parse(monkeypatch)
    with pytest.raises(
        SubmissionError,
        match=r"^line 2003: the file has more than 2,002 lines, twice the header and one row per "
        r"test event \(1,000\); remove the blank lines$",
    ):
        read_submission(gzip.compress(short), expected_ids=ids)
    with pytest.raises(SubmissionError, match="^line 2003: the file has more than 2,002 lines"):
        read_submission(b"event_id,score\n" + b"\r\n" * 2_002 + b"1,0", expected_ids=ids)


def test_a_blank_line_after_every_row_is_still_read():
    ids = np.arange(1_000)
    blank_lines_between = b"event_id,score\n" + b"1,0\n\n" * 1_000  # 2,001 lines: read
    with pytest.raises(
        SubmissionError, match=r"^line 4: event_id 1 appears again \(first on line 2\)"
    ):
        read_submission(blank_lines_between, expected_ids=ids)


@pytest.mark.parametrize("kind", ["bytes", "path", "stream"])
def test_a_file_of_exactly_max_bytes_is_read_and_one_byte_more_is_refused(tmp_path, kind):
    # Issue 15's mutants: ">=" for ">" refused a file at the limit; read(max_bytes) on a stream
    # cut an oversized one silently.
    def source(data: bytes):
        if kind == "bytes":
            return data
        if kind == "stream":
            return io.BytesIO(data)
        (tmp_path / "s.csv").write_bytes(data)
        return tmp_path / "s.csv"

    assert read_submission(source(GOOD), max_bytes=len(GOOD))["event_id"].tolist() == [11, 22, 33]
    more = " or more" if kind == "stream" else ""
    with pytest.raises(
        SubmissionError, match=f"^the file is 37 bytes{more}, over the limit of 36 bytes$"
    ):
        read_submission(source(GOOD + b"\n"), max_bytes=len(GOOD))


def test_messages_name_the_file_line_when_blank_lines_come_between_rows():
    data = b"event_id,score\n\n11,0.5\r\n\r\n22,0.1\n44,0.7\n"
    with pytest.raises(SubmissionError, match=r"^line 6: event_id 44 is not in the test set"):
        read(data)
    with pytest.raises(
        SubmissionError, match=r"^line 6: event_id 11 appears again \(first on line 3\)"
    ):
        read(data.replace(b"44", b"11"))
