"""Bounds on what an ONNX file holds, counted on its protobuf wire format before it is parsed.

protobuf builds every node, string and value of a file in memory before onnx's checker sees
it: 2,000,000 `Identity` nodes in 48 MB cost 1.6 GB, 23 million empty strings 2.2 GB. This
walk reads the bytes in place, counts what parsing would build, and stops at the first bound
passed, so refusing such a file costs about what accepting a small one does.
"""

from __future__ import annotations

from dataclasses import dataclass

# What a file of this challenge may hold. The exported baselines have under 100 nodes, 50
# initializers and no strings; a large exported network has a few thousand nodes.
MAX_NODES = 10_000  # in every graph and subgraph together
MAX_TENSORS = 20_000  # initializers and tensors stored in attributes
MAX_STRINGS = 10_000  # entries of string tensors and string-list attributes (a model of float
# volts to a float score needs none)
MAX_GRAPH_DEPTH = 8  # a Loop in an If in a Loop ... is 3
MAX_ELEMENTS = 300_000  # fields of the messages walked: value infos, dims, names, ints ...
MAX_TENSOR_BYTES = 1 << 30  # the bytes the tensors declare (dims x type), once loaded


@dataclass(frozen=True)
class ScanLimits:
    """The bounds of one scan; ``ModelLimits`` carries them."""

    nodes: int = MAX_NODES
    tensors: int = MAX_TENSORS
    strings: int = MAX_STRINGS
    graph_depth: int = MAX_GRAPH_DEPTH
    elements: int = MAX_ELEMENTS
    tensor_bytes: int = MAX_TENSOR_BYTES


class ScanError(ValueError):
    """The file passes a bound (the message says which), or is not protobuf at all."""


class NotProtobuf(ScanError):
    """The bytes are not a protobuf message (truncated, or another format)."""


# onnx.proto's messages, by the field numbers that hold messages of interest
MODEL, GRAPH, NODE, ATTRIBUTE, TENSOR, SPARSE, FUNCTION, TRAINING = range(8)
CHILDREN = {
    MODEL: {7: GRAPH, 20: TRAINING, 25: FUNCTION},
    TRAINING: {1: GRAPH, 2: GRAPH},  # initialization, algorithm
    FUNCTION: {3: NODE},
    GRAPH: {1: NODE, 5: TENSOR, 15: SPARSE},  # node, initializer, sparse_initializer
    NODE: {5: ATTRIBUTE},
    ATTRIBUTE: {5: TENSOR, 6: GRAPH, 10: TENSOR, 11: GRAPH, 22: SPARSE, 23: SPARSE},
    SPARSE: {1: TENSOR, 2: TENSOR},  # values, indices
    TENSOR: {},
}
STRING_FIELDS = {TENSOR: 6, ATTRIBUTE: 9}  # string_data, strings
TENSOR_DIMS, TENSOR_TYPE = 1, 2
# TensorProto.DataType -> bytes per element (strings: counted apart)
ITEM_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8,
              14: 8, 15: 16, 16: 2, 17: 1, 18: 1, 19: 1, 20: 1, 21: 1, 22: 1, 23: 1}  # fmt: skip
WIRE_VARINT, WIRE_64, WIRE_BYTES, WIRE_32 = 0, 1, 2, 5


# What a scan says when it passes a bound, by the field of ScanLimits that holds the bound.
PASSED = {
    "nodes": lambda bound: f"more than {bound:,} nodes",
    "tensors": lambda bound: f"more than {bound:,} stored tensors",
    "strings": lambda bound: f"more than {bound:,} strings in its tensors",
    "elements": lambda bound: f"more than {bound:,} fields in its messages",
    "tensor_bytes": lambda bound: f"tensors that declare more than {bound / 2**30:g} GB together",
}


class _Counts:
    """What one scan has met so far, each against its bound in ``limits``."""

    def __init__(self, limits: ScanLimits) -> None:
        self.limits = limits
        self.bounds = {what: getattr(limits, what) for what in PASSED}
        self.seen = dict.fromkeys(PASSED, 0)

    def add(self, what: str, n: int = 1) -> None:
        """Counts ``n`` more of ``what`` (a key of PASSED); ScanError past its bound."""
        self.seen[what] += n
        if self.seen[what] > self.bounds[what]:
            raise ScanError(PASSED[what](self.bounds[what]))


def scan_model_bytes(data, limits: ScanLimits | None = None) -> None:
    """Walk the ONNX ModelProto ``data`` (bytes, or a file's mmap) without parsing it; ScanError at the first bound it
    passes (nodes, tensors, strings, graph depth, fields, declared tensor bytes), NotProtobuf
    when it is not protobuf."""
    limits = limits or ScanLimits()
    try:
        _walk(data, 0, len(data), MODEL, 0, _Counts(limits))
    except IndexError:
        raise NotProtobuf("a field runs past the end of the file") from None


def _walk(data: bytes, pos: int, end: int, kind: int, depth: int, counts: _Counts) -> None:
    children, strings = CHILDREN[kind], STRING_FIELDS.get(kind)
    dims, item_bytes = [], None
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        counts.add("elements")
        if wire == WIRE_VARINT:
            value, pos = _varint(data, pos)
            if kind == TENSOR and number == TENSOR_DIMS:
                dims.append(value)
            elif kind == TENSOR and number == TENSOR_TYPE:
                item_bytes = ITEM_BYTES.get(value)
            continue
        if wire == WIRE_64 or wire == WIRE_32:
            pos += 8 if wire == WIRE_64 else 4
            continue
        if wire != WIRE_BYTES:
            raise NotProtobuf(f"wire type {wire} of field {number}")
        length, pos = _varint(data, pos)
        start, pos = pos, pos + length
        if pos > end:
            raise NotProtobuf(f"field {number} runs past its message")
        if number == strings:
            counts.add("strings")
        elif kind == TENSOR and number == TENSOR_DIMS:  # packed
            dims.extend(_packed_varints(data, start, pos, counts))
        elif number in children:
            _enter(data, start, pos, children[number], depth, counts)
    if kind == TENSOR and item_bytes is not None:
        counts.add("tensor_bytes", _declared_bytes(dims, item_bytes, counts.limits.tensor_bytes))


def _enter(data: bytes, start: int, end: int, kind: int, depth: int, counts: _Counts) -> None:
    if kind == GRAPH:
        depth += 1
        if depth > counts.limits.graph_depth:
            raise ScanError(f"graphs nested more than {counts.limits.graph_depth} deep")
    elif kind == NODE:
        counts.add("nodes")
    elif kind == TENSOR:
        counts.add("tensors")
    _walk(data, start, end, kind, depth, counts)


def _declared_bytes(dims: list[int], item_bytes: int, bound: int) -> int:
    """The bytes a tensor of ``dims`` declares, or a number past ``bound`` once it is passed."""
    size = item_bytes
    for d in dims:
        size *= d
        if size > bound:
            break
    return size


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    byte = data[pos]
    if byte < 0x80:
        return byte, pos + 1
    value, shift = byte & 0x7F, 7
    while True:
        pos += 1
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos + 1
        shift += 7
        if shift > 63:
            raise NotProtobuf("a number longer than ten bytes")


def _packed_varints(data: bytes, pos: int, end: int, counts: _Counts) -> list[int]:
    values = []
    while pos < end:
        value, pos = _varint(data, pos)
        values.append(value)
        counts.add("elements")
    return values
