"""Read and write the IDX files in which MNIST is distributed (plain or gzip-compressed)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

# The third byte of the magic number names the element type (LeCun's IDX format).
_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype: code for code, dtype in _DTYPES.items()}


class IDXError(ValueError):
    """An IDX file that is truncated or has a bad header; the message names the file."""


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (``.gz`` or not) into an array of the shape stored in its header."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IDXError(f"{path}: not an IDX file (the magic number must start with two zero bytes)")
    code, ndim = raw[2], raw[3]
    if code not in _DTYPES:
        raise IDXError(
            f"{path}: unknown element type 0x{code:02x}, expected one of "
            + ", ".join(f"0x{c:02x}" for c in _DTYPES)
        )
    header_end = 4 + 4 * ndim
    if len(raw) < header_end:
        raise IDXError(f"{path}: truncated header ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int(n) for n in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header_end != expected:
        raise IDXError(
            f"{path}: {len(raw) - header_end} data bytes, header shape {shape} needs {expected}"
        )
    data = np.frombuffer(raw, dtype, offset=header_end).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file; gzip-compressed when ``path`` ends in ``.gz``."""
    path = Path(path)
    array = np.asarray(array)
    big_endian = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if big_endian not in _CODES:
        raise ValueError(
            f"dtype {array.dtype} cannot be stored in IDX; "
            "use uint8, int8, int16, int32, float32 or float64"
        )
    header = bytes([0, 0, _CODES[big_endian], array.ndim])
    header += np.asarray(array.shape, ">u4").tobytes()
    payload = header + array.astype(big_endian).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)


def _read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise IDXError(f"{path}: cannot read ({exc.strerror})") from exc
    if raw[:2] == b"\x1f\x8b":  # gzip magic: decompress, whatever the file is called
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise IDXError(f"{path}: corrupt gzip stream ({exc})") from exc
    return raw
