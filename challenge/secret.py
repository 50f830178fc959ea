"""The challenge secret: 128 random bits from which every random choice of a challenge is derived.

Generating a challenge without ``--seed`` draws a fresh secret with Python's ``secrets`` and
keeps it only in ``DIR/private/`` (folder 0700, files 0600). A public seed (``--seed N``) stays
for practice data, tests and teaching: anyone who knows or guesses it can recompute the labels.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SECRET_BITS = 128
STREAM_DOMAIN = "darkmatter-challenge stream"  # a prefix of the hashed key of each random stream
SECRET_FILE = "secret.json"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
SEED_WARNING = (
    "generated with a public seed (--seed {seed}): anyone who knows or guesses it can recompute "
    "the labels of the test set. Use such data for practice, tests and teaching only; generate a "
    "real event without --seed, which draws a fresh 128-bit secret."
)


@dataclass(frozen=True)
class Secret:
    """The entropy of numpy's ``SeedSequence`` for everything random in one challenge.

    ``seed`` is the public seed it came from, or None for a secret drawn by ``Secret.fresh()``.
    """

    entropy: int
    seed: int | None = None

    @classmethod
    def fresh(cls) -> Secret:
        """A new secret of SECRET_BITS bits from the operating system's CSPRNG."""
        return cls(secrets.randbits(SECRET_BITS))

    @classmethod
    def from_seed(cls, seed: int) -> Secret:
        """A public, guessable seed (practice data): its entropy is the seed itself."""
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {seed}")
        return cls(int(seed), seed=int(seed))

    @property
    def is_public(self) -> bool:
        return self.seed is not None

    def rng(self, *stream: int) -> np.random.Generator:
        """An independent generator for one stream (a tuple of small ints) of this secret."""
        return derive_rng(self.entropy, *stream)

    def warning(self) -> str:
        """The warning that goes with a public seed; empty for a real secret."""
        return SEED_WARNING.format(seed=self.seed) if self.is_public else ""

    def __repr__(self) -> str:  # never print the secret by accident (logs, tracebacks)
        return f"Secret(seed={self.seed})" if self.is_public else "Secret(<128-bit, hidden>)"


def stream_key(entropy: int, *stream: int) -> int:
    """SHA-256 of the entropy and the stream: the 256-bit seed of one stream."""
    text = f"{STREAM_DOMAIN}:{entropy}:{','.join(str(int(s)) for s in stream)}"
    return int.from_bytes(hashlib.sha256(text.encode("ascii")).digest(), "big")


def derive_rng(entropy: int, *stream: int) -> np.random.Generator:
    """numpy's default generator (PCG64) for one stream of ``entropy``.

    PCG64 is not a cryptographic generator: its state can in principle be recovered from its
    outputs (the sample submission's scores, the records' noise). Seeding each stream with a
    SHA-256 key instead of the secret itself means that such a state reveals neither the secret
    nor any other stream, such as the test labels.
    """
    return np.random.default_rng(np.random.SeedSequence(stream_key(entropy, *stream)))


def make_private_dir(path: Path) -> Path:
    """Creates ``path`` (and its parents) and makes it owner-only (0700), whatever the umask."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR_MODE)
    return path


def open_private(path: Path, mode: str = "w", **kwargs):
    """Opens a new file under a private folder as owner-only (0600) before any byte is written."""
    make_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)  # O_CREAT's mode is masked by the umask; a file may pre-exist
    return os.fdopen(fd, mode, **kwargs)


def write_secret(secret: Secret, private_dir: Path) -> Path:
    """Stores the secret as JSON in ``private_dir/SECRET_FILE`` (0600)."""
    path = private_dir / SECRET_FILE
    record = {
        "secret_hex": f"{secret.entropy:032x}",
        "public_seed": secret.seed,
        "derivation": "numpy.random.SeedSequence(entropy=int(secret_hex, 16), spawn_key=stream)",
    }
    with open_private(path, encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
        handle.write("\n")
    return path


def read_secret(path: Path) -> Secret:
    """The secret stored by ``write_secret``."""
    record = json.loads(Path(path).read_text(encoding="utf-8"))
    return Secret(int(record["secret_hex"], 16), seed=record["public_seed"])
