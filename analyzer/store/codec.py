"""How raw logs are packed in the store: zstandard at level 1, and zlib for stores written before it.

Measured on the real logs of ``../shared/realdata`` (334 job logs, 20 MB; benchmarks/README.md,
"Ingest"): zstandard level 1 packs 7.1 : 1 at ~700 MB/s and unpacks at ~1.9 GB/s; zlib level 6
(the codec before) 7.0 : 1 at ~60 MB/s, zlib level 1 6.0 : 1 at ~220 MB/s. So zstandard level 1
packs as tight as zlib 6, ten times faster.

Every blob says its own codec: a zstandard frame starts with the magic ``28 b5 2f fd``, a zlib
stream with ``78`` — so a store can hold both, and one written by an earlier version is read as
it is, without a migration (nothing is recompressed).
"""

from __future__ import annotations

import threading
import zlib
from typing import Any

import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LEVEL = 1

_local = threading.local()


def _compressor() -> Any:
    # one per thread: a compressor object must not be used by two threads at once
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(level=LEVEL)
    return compressor


def pack(data: bytes) -> bytes:
    """``data`` compressed (zstandard frame with its content size, so ``unpack`` is one call)."""
    return bytes(_compressor().compress(data))


def unpack(blob: bytes) -> bytes:
    """A packed blob's bytes, whichever codec packed it (zstandard, or zlib from older stores)."""
    if bytes(blob[:4]) == ZSTD_MAGIC:
        return bytes(zstandard.ZstdDecompressor().decompress(blob))
    return zlib.decompress(blob)
