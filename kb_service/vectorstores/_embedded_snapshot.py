"""Per-knowledge-base snapshots of the in-memory index: a restart maps a file instead of rebuilding.

`<root>/<kb_id>.snapshot` holds the live rows of an index at one point of its SQLite file's history
(every row with seq <= `last_seq`, every tombstone with id <= `last_tombstone` applied), in listing
order (collection, source, position, seq), so that the rows of a collection are one contiguous
slice. Layout (all little-endian):

    0      preamble: magic b"KBVSNAP1", trailer offset (u64), trailer length (u64), trailer CRC-32 (u32)
    4096   sections, each starting on a 4 kB page: seq (i8), by_seq (i8: rows in seq order, the
           seq -> row map), position (i8), one int32 code column per system field and metadata key,
           q8_scales (f4, optional), vectors (f4, rows x dimension), q8 (i1, rows x dimension, optional)
    end    trailer: JSON with the format, generation, dimension, rows, last_seq, last_tombstone, the
           distinct values of every column, and each section's offset, dtype, shape and CRC-32
           (the vector sections: one CRC-32 per block of `block_rows` rows, the index's blocks)

Opening checks the preamble, that the file is exactly as long as the trailer says, the trailer's
CRC, that the snapshot belongs to this file (generation, dimension) and is reachable from its
current state (last_seq and last_tombstone not beyond SQLite's, last_tombstone not below the pruned
tombstone floor), the CRC-32 of every small section, and that a few rows equal SQLite's vectors.
Anything else is "no snapshot": the index is rebuilt from SQLite, which stays the source of truth.
Small columns are copied into memory; the vectors and the int8 copy are used in place as read-only
memory maps, each 32 MB block checked against its CRC just before its first use
(`VectorIndex.checked`; a failure raises SnapshotCorrupt and the store rebuilds), so a restart pays
only for the blocks its first searches touch.

A snapshot is written to a temporary name, fsynced, renamed over the old one and the folder
fsynced, so a crash leaves the old snapshot or the new one, never a mix; several processes may
write one at once (the last rename wins; both are complete).
"""

from __future__ import annotations

import json
import os
import struct
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kb_service.vectorstores._embedded_index import FloatArray, IntArray, VectorIndex

MAGIC = b"KBVSNAP1"
FORMAT = 1
SUFFIX = ".snapshot"
_PREAMBLE = struct.Struct("<8sQQI")
_PAGE = 4096
# Rows of vectors copied (and checksummed) per write.
_WRITE_ROWS = 16_384
_CRC_BYTES = 4 << 20
# Rows of a snapshot compared with SQLite's vectors when it is opened.
_CROSS_CHECK_ROWS = 8


class SnapshotInvalid(Exception):
    """The snapshot cannot be used; the message says why (a log field, never chunk text)."""


@dataclass(frozen=True, slots=True)
class Horizon:
    """What the SQLite file holds now: a snapshot must not be ahead of it or behind its floor."""

    generation: str
    dimension: int
    last_seq: int
    last_tombstone: int
    tombstone_floor: int


def path_of(root: Path, kb_id: str) -> Path:
    return root / f"{kb_id}{SUFFIX}"


def remove(root: Path, kb_id: str) -> None:
    path_of(root, kb_id).unlink(missing_ok=True)
    for leftover in root.glob(f".{kb_id}{SUFFIX}.*.tmp"):
        leftover.unlink(missing_ok=True)


# --- writing ------------------------------------------------------------------------------------


def write(path: Path, index: VectorIndex, generation: str, *, int8: bool) -> int:
    """Write the live rows of `index` (which holds vectors) as the snapshot at `path`; returns its size."""
    assert index.blocks is not None
    order = _listing_order(index)
    rows, dimension = int(order.size), index.dimension
    seq = index.seq[order]
    sections: list[tuple[str, npt.NDArray[Any] | None, str, tuple[int, ...]]] = [
        ("seq", seq, "<i8", (rows,)),
        ("by_seq", np.argsort(seq, kind="stable").astype(np.int64), "<i8", (rows,)),
        ("position", index.position[order], "<i8", (rows,)),
    ]
    sections += [(f"system.{name}", c.codes[order], "<i4", (rows,)) for name, c in index.system.items()]
    keys = list(index.metadata)
    sections += [
        (f"metadata.{i}", index.metadata[key].codes[order], "<i4", (rows,)) for i, key in enumerate(keys)
    ]
    sections.append(("vectors", None, "<f4", (rows, dimension)))
    if int8:
        sections += [("q8_scales", None, "<f4", (rows,)), ("q8", None, "|i1", (rows, dimension))]
    layout: dict[str, dict[str, Any]] = {}
    offset = _PAGE
    for name, _, dtype, shape in sections:
        layout[name] = {"offset": offset, "dtype": dtype, "shape": list(shape)}
        offset = _aligned(offset + int(np.dtype(dtype).itemsize * np.prod(shape, dtype=np.int64)))
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        for name, array, dtype, _ in sections:
            if array is not None:
                layout[name]["crc"] = _put(
                    fd, layout[name]["offset"], np.ascontiguousarray(array, dtype=dtype), 0
                )
        _write_vectors(fd, index, order, layout, int8=int8)
        trailer = json.dumps(
            {
                "format": FORMAT,
                "generation": generation,
                "dimension": dimension,
                "rows": rows,
                "last_seq": index.last_seq,
                "last_tombstone": index.last_tombstone,
                "system": {name: column.values for name, column in index.system.items()},
                "metadata": {str(i): [key, index.metadata[key].values] for i, key in enumerate(keys)},
                "sections": layout,
            },
            ensure_ascii=False,
        ).encode()
        os.pwrite(fd, trailer, offset)
        os.pwrite(fd, _PREAMBLE.pack(MAGIC, offset, len(trailer), zlib.crc32(trailer)), 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(temporary, path)
    _fsync_folder(path.parent)
    return offset + len(trailer)


def _listing_order(index: VectorIndex) -> IntArray:
    rows = np.flatnonzero(index.alive_mask()).astype(np.int64)
    collection = index.system["collection"]
    source = index.system["source_id"]
    keys = (
        index.seq[rows],
        index.position[rows],
        source.ranks()[source.codes[rows]],
        collection.ranks()[collection.codes[rows]],
    )
    order: IntArray = rows[np.lexsort(keys)]
    return order


def _write_vectors(
    fd: int, index: VectorIndex, order: IntArray, layout: dict[str, dict[str, Any]], *, int8: bool
) -> None:
    """The vector sections, with one CRC-32 per block of `block_rows` rows (the index's blocks), so
    a reader checks each block just before its first use."""
    dimension, block_rows = index.dimension, index.block_rows
    names = ("vectors", "q8") if int8 else ("vectors",)
    block_crcs: dict[str, list[int]] = {name: [] for name in names}
    scales_crc = 0
    for block_start in range(0, int(order.size), block_rows):
        crcs = dict.fromkeys(names, 0)
        for start in range(block_start, min(block_start + block_rows, int(order.size)), _WRITE_ROWS):
            rows = order[start : min(start + _WRITE_ROWS, block_start + block_rows)]
            sort = np.argsort(rows, kind="stable")
            vectors = np.empty((rows.size, dimension), dtype=np.float32)
            vectors[sort] = index.gather(rows[sort])
            at = start * dimension
            offset = layout["vectors"]["offset"] + 4 * at
            crcs["vectors"] = _put(fd, offset, vectors.astype("<f4", copy=False), crcs["vectors"])
            if int8:
                scales, codes = quantize(vectors)
                scales_crc = _put(
                    fd, layout["q8_scales"]["offset"] + 4 * start, scales.astype("<f4"), scales_crc
                )
                crcs["q8"] = _put(fd, layout["q8"]["offset"] + at, codes, crcs["q8"])
        for name in names:
            block_crcs[name].append(crcs[name])
    for name in names:
        layout[name]["block_rows"] = block_rows
        layout[name]["block_crcs"] = block_crcs[name]
    if int8:
        layout["q8_scales"]["crc"] = scales_crc


def quantize(vectors: FloatArray) -> tuple[FloatArray, npt.NDArray[np.int8]]:
    """Per-row symmetric int8: x ~ s * q with s = max|x| / 127, so |x - s * q| <= s / 2 per element."""
    scales = (np.abs(vectors).max(axis=1) / 127.0).astype(np.float32)
    safe = np.where(scales > 0, scales, np.float32(1.0))
    codes = np.clip(np.rint(vectors / safe[:, None]), -127, 127).astype(np.int8)
    return scales, codes


def _put(fd: int, offset: int, array: npt.NDArray[Any], crc: int) -> int:
    data = memoryview(array.data).cast("B")
    done = 0
    while done < len(data):
        done += os.pwrite(fd, data[done:], offset + done)
    return zlib.crc32(data, crc)


def _aligned(offset: int) -> int:
    return -(-offset // _PAGE) * _PAGE


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- reading ------------------------------------------------------------------------------------


def load(
    path: Path, horizon: Horizon, sqlite_vectors: Callable[[list[int]], dict[int, bytes]]
) -> VectorIndex:
    """The index of the snapshot at `path`; SnapshotInvalid when it is missing, torn or stale.
    `sqlite_vectors` gives SQLite's vector blobs of some seqs, to compare a few rows with. The
    vector blocks are checked one by one before their first use (`VectorIndex.checked`)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            preamble = handle.read(_PREAMBLE.size)
            if len(preamble) < _PREAMBLE.size:
                raise SnapshotInvalid("truncated preamble")
            magic, offset, length, crc = _PREAMBLE.unpack(preamble)
            if magic != MAGIC:
                raise SnapshotInvalid("not a snapshot")
            if offset + length != size:
                raise SnapshotInvalid(f"size {size} is not the {offset + length} the preamble says")
            handle.seek(offset)
            trailer = handle.read(length)
            inode = os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        raise SnapshotInvalid("missing") from None
    except OSError as error:
        raise SnapshotInvalid(f"unreadable: {error.strerror}") from None
    if zlib.crc32(trailer) != crc:
        raise SnapshotInvalid("trailer checksum mismatch")
    try:
        header = json.loads(trailer)
        index = _build(path, header, horizon)
        vectors = header["sections"]["vectors"]
    except (KeyError, TypeError, ValueError) as error:
        raise SnapshotInvalid(f"malformed trailer: {type(error).__name__}") from None
    _cross_check(path, index, vectors, sqlite_vectors)
    index.snapshot_inode = inode
    return index


def _cross_check(
    path: Path,
    index: VectorIndex,
    spec: dict[str, Any],
    sqlite_vectors: Callable[[list[int]], dict[int, bytes]],
) -> None:
    """Compare a few rows spread over the snapshot with SQLite's vectors, read from the file
    directly (a seq's vector never changes; a row deleted since is skipped)."""
    if index.size == 0:
        return
    rows = np.unique(np.linspace(0, index.size - 1, _CROSS_CHECK_ROWS).astype(np.int64)).tolist()
    seqs = [int(index.seq[row]) for row in rows]
    blobs = sqlite_vectors(seqs)
    width = 4 * index.dimension
    try:
        with open(path, "rb", buffering=0) as handle:
            for row, seq in zip(rows, seqs, strict=True):
                handle.seek(int(spec["offset"]) + row * width)
                mapped = handle.read(width)
                if seq in blobs and blobs[seq] != mapped:
                    raise SnapshotInvalid(f"row {row} differs from SQLite")
    except OSError as error:
        raise SnapshotInvalid(f"unreadable: {error.strerror}") from None


def _build(path: Path, header: dict[str, Any], horizon: Horizon) -> VectorIndex:
    _check_horizon(header, horizon)
    sections: dict[str, dict[str, Any]] = header["sections"]
    # The vectors are mapped; the small sections are read (copied anyway, and a mapping would keep
    # their pages resident a second time).
    arrays = {
        name: _map(path, spec) if name in ("vectors", "q8") else _read(path, spec)
        for name, spec in sections.items()
    }
    for name, array in arrays.items():
        if name not in ("vectors", "q8") and _crc(array) != sections[name]["crc"]:
            raise SnapshotInvalid(f"section {name} checksum mismatch")
    index = VectorIndex(horizon.dimension)
    index.adopt(
        seq=np.asarray(arrays["seq"]),
        by_seq=np.asarray(arrays["by_seq"]),
        position=np.asarray(arrays["position"]),
        system={name: (values, arrays[f"system.{name}"]) for name, values in header["system"].items()},
        metadata={key: (values, arrays[f"metadata.{i}"]) for i, (key, values) in header["metadata"].items()},
        vectors=arrays["vectors"],
        last_seq=int(header["last_seq"]),
        last_tombstone=int(header["last_tombstone"]),
    )
    if "q8" in arrays:
        index.q8 = np.asarray(arrays["q8"])
        index.q8_scales = np.array(arrays["q8_scales"], dtype=np.float32)

    index.unchecked = {
        name: set(range(len(sections[name]["block_crcs"]))) for name in ("vectors", "q8") if name in sections
    }
    index.check_block = partial(_check_block, path, sections)
    return index


def _check_block(path: Path, sections: dict[str, dict[str, Any]], name: str, block: int) -> bool:
    """CRC-32 of one block read through the page cache, not the map: pages this process never
    scores (the float rows, when the int8 copy is scanned) do not become part of its RSS."""
    spec = sections[name]
    itemsize = np.dtype(spec["dtype"]).itemsize
    row_bytes = itemsize * int(np.prod(spec["shape"][1:], dtype=np.int64))
    rows = int(spec["shape"][0])
    block_rows = int(spec["block_rows"])
    start = block * block_rows
    length = min(block_rows, rows - start) * row_bytes
    expected: int = spec["block_crcs"][block]
    return _file_crc(path, int(spec["offset"]) + start * row_bytes, length) == expected


def _check_horizon(header: dict[str, Any], horizon: Horizon) -> None:
    if header.get("format") != FORMAT:
        raise SnapshotInvalid(f"format {header.get('format')!r} is not {FORMAT}")
    if header["generation"] != horizon.generation or header["dimension"] != horizon.dimension:
        raise SnapshotInvalid("written for another index (generation or dimension)")
    if header["last_seq"] > horizon.last_seq or header["last_tombstone"] > horizon.last_tombstone:
        raise SnapshotInvalid("ahead of the SQLite file (restored from an older copy?)")
    if header["last_tombstone"] < horizon.tombstone_floor:
        raise SnapshotInvalid("behind the pruned tombstones")


def _read(path: Path, spec: dict[str, Any]) -> npt.NDArray[Any]:
    shape = tuple(int(n) for n in spec["shape"])
    count = int(np.prod(shape, dtype=np.int64))
    array = np.fromfile(path, dtype=np.dtype(spec["dtype"]), count=count, offset=int(spec["offset"]))
    if array.size != count:
        raise SnapshotInvalid("a section is shorter than the trailer says")
    return array.reshape(shape)


def _map(path: Path, spec: dict[str, Any]) -> npt.NDArray[Any]:
    shape = tuple(int(n) for n in spec["shape"])
    if 0 in shape:
        return np.empty(shape, dtype=spec["dtype"])
    return np.memmap(path, dtype=np.dtype(spec["dtype"]), mode="r", offset=int(spec["offset"]), shape=shape)


def _file_crc(path: Path, offset: int, remaining: int) -> int:
    buffer = bytearray(max(1, min(remaining, _CRC_BYTES)))
    crc = 0
    with open(path, "rb", buffering=0) as handle:
        handle.seek(offset)
        while remaining > 0:
            view = memoryview(buffer)[: min(remaining, len(buffer))]
            read = handle.readinto(view)
            if not read:
                return -1  # shorter than its trailer says
            crc = zlib.crc32(view[:read], crc)
            remaining -= read
    return crc


def _crc(array: npt.NDArray[Any]) -> int:
    flat = memoryview(np.ascontiguousarray(array).data).cast("B")
    crc = 0
    for start in range(0, len(flat), _CRC_BYTES):
        crc = zlib.crc32(flat[start : start + _CRC_BYTES], crc)
    return crc
