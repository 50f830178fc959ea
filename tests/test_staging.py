"""`challenge generate` and `challenge import` never replace a challenge by accident, and an
interrupted run leaves the folder as it was (challenge.staging)."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from challenge.cli import main
from challenge.staging import (
    BACKUP_PREFIX,
    PARTIAL_MARKER,
    ChallengeExistsError,
    _deferred_signals,
    write_challenge,
)

BIN = Path(sys.executable).parent
SMALL = ["--n-train", "20", "--n-test", "40", "--record-length", "128", "--quiet"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path, with the SHA-256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def partial_folders(folder: Path) -> list[Path]:
    """Temporary folders in ``folder`` or beside it (any name, not only the expected one)."""
    inside = list(folder.iterdir()) if folder.is_dir() else []
    return [p for p in inside + list(folder.parent.iterdir()) if PARTIAL_MARKER in p.name]


def test_a_second_generate_is_refused_naming_force(tmp_path):
    out = tmp_path / "data"
    assert run("generate", *SMALL, "--seed", 1, "--out-dir", out).exit_code == 0
    before = snapshot(out)
    result = run("generate", *SMALL, "--seed", 2, "--out-dir", out)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "already holds a challenge (private/secret.json, private/answer_key.csv" in result.stderr
    assert "Give --force to replace it" in result.stderr
    assert snapshot(out) == before and not partial_folders(out)


def test_import_refuses_a_challenge_folder_too(tmp_path):
    out = tmp_path / "data"
    assert run("generate", *SMALL, "--seed", 1, "--out-dir", out).exit_code == 0
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", X=rng.normal(size=(40, 64)), y=np.arange(40) % 2,
             sampling_rate_hz=25_000.0)  # fmt: skip
    before = snapshot(out)
    result = run("import", tmp_path / "x.npz", "--format", "npz", "--out-dir", out, "--quiet")
    assert result.exit_code == 1 and "--force" in result.stderr
    assert snapshot(out) == before
    # The folder is refused before any record is read: a broken file is not even opened.
    (tmp_path / "broken.npz").write_bytes(b"not an npz")
    result = run("import", tmp_path / "broken.npz", "--format", "npz", "--out-dir", out)
    assert result.exit_code == 1 and "already holds a challenge" in result.stderr
    assert "not a readable" not in result.stderr


def test_force_keeps_the_old_private_folder_as_an_owner_only_backup(tmp_path):
    out = tmp_path / "data"
    assert run("generate", *SMALL, "--seed", 1, "--out-dir", out).exit_code == 0
    (out / "notes.txt").write_text("the organizer's own file")
    old = snapshot(out / "private")
    result = run("generate", *SMALL, "--seed", 2, "--out-dir", out, "--force")
    assert result.exit_code == 0, result.output
    backups = [p for p in out.iterdir() if p.name.startswith(BACKUP_PREFIX)]
    assert len(backups) == 1 and snapshot(backups[0]) == old
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o700
    assert snapshot(out / "private")["secret.json"] != old["secret.json"]
    assert (out / "notes.txt").read_text() == "the organizer's own file"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(BACKUP_PREFIX)) == [
        "notes.txt", "private", "public",
    ]  # fmt: skip
    assert not partial_folders(out)
    # A second --force keeps a second backup: none is overwritten.
    assert run("generate", *SMALL, "--seed", 3, "--out-dir", out, "--force").exit_code == 0
    assert len([p for p in out.iterdir() if p.name.startswith(BACKUP_PREFIX)]) == 2


def test_a_new_folder_gets_the_usual_mode_and_an_empty_one_is_filled(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    paths = write_challenge(tmp_path / "new", lambda folder: _tiny(folder))
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o777 & ~umask
    assert paths == {"key": tmp_path / "new" / "private" / "key.txt"}
    assert (tmp_path / "new" / "public" / "a.txt").read_text() == "a"
    (tmp_path / "empty").mkdir()
    write_challenge(tmp_path / "empty", _tiny)
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == ["private", "public"]


def _tiny(folder: Path) -> dict[str, Path]:
    (folder / "public").mkdir()
    (folder / "public" / "a.txt").write_text("a")
    (folder / "private").mkdir(mode=0o700)
    (folder / "private" / "key.txt").write_text("k")
    (folder / "private" / "answer_key.csv").write_text("event_id,label,split\n")
    return {"key": folder / "private" / "key.txt"}


def test_a_failing_run_leaves_the_folder_as_it_was(tmp_path):
    out = tmp_path / "data"
    write_challenge(out, _tiny)
    before = snapshot(out)

    def fails(folder: Path):
        _tiny(folder)
        raise RuntimeError("the simulation broke half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        write_challenge(out, fails, force=True)
    assert snapshot(out) == before and not partial_folders(out)
    with pytest.raises(ChallengeExistsError, match="--force"):
        write_challenge(out, _tiny)


def test_a_killed_runs_temporary_folder_is_removed_by_the_next_run(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stale = tmp_path / f".data{PARTIAL_MARKER}{dead}-0123abcd"
    stale_inside = tmp_path / "data" / f".data{PARTIAL_MARKER}{dead}-0123abce"
    running = tmp_path / f".data{PARTIAL_MARKER}{os.getpid()}-4567ef01"
    other = tmp_path / f".other{PARTIAL_MARKER}{dead}-89abcdef"
    for folder in (stale, stale_inside, running, other):
        (folder / "private").mkdir(parents=True)
    write_challenge(tmp_path / "data", _tiny)
    assert not stale.exists() and not stale_inside.exists()
    assert running.exists() and other.exists()


def as_at_a_terminal() -> None:
    """Ctrl-C as a terminal delivers it, whatever this process (a pytest-xdist worker, after
    other tests) holds: SIGINT unblocked, its default handler. Set in a child before exec."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Python's own start-up makes it KeyboardInterrupt


def test_signals_wait_until_the_challenge_is_in_place():
    blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            with _deferred_signals():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # delivered now without the deferral
                reached = True
        assert reached
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_ctrl_c_during_generate_leaves_the_folder_as_it_was(tmp_path):
    out = tmp_path / "data"
    assert run("generate", *SMALL, "--seed", 1, "--out-dir", out).exit_code == 0
    before = snapshot(out)
    # Large enough to be caught writing train.root (about 10 s on one core).
    args = [BIN / "challenge", "generate", "--n-train", "6000", "--n-test", "200",
            "--record-length", "4096", "--seed", "2", "--out-dir", out, "--force", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=as_at_a_terminal)  # fmt: skip
    try:
        deadline = time.monotonic() + 100
        while not any((p / "public" / "train.root").exists() for p in partial_folders(out)):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the generator never started writing"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0 and "Traceback" not in stderr
    assert snapshot(out) == before
    assert not partial_folders(out)
    assert not [p for p in out.iterdir() if p.name.startswith(BACKUP_PREFIX)]
