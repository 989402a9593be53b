"""Numpy arrays stored compactly as binary, round-tripping bit-exactly.

Layout of a stored value: one byte dtype code, one byte ndim, ``ndim`` little-endian uint32
dimensions, then the raw little-endian data. A 9-atom force array takes 222 bytes.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["NumpyArray", "pack_array", "unpack_array"]

_CODES: dict[np.dtype[Any], int] = {
    np.dtype("<f8"): 1, np.dtype("<f4"): 2, np.dtype("<i8"): 3, np.dtype("<i4"): 4, np.dtype("bool"): 5
}
_DTYPES: dict[int, np.dtype[Any]] = {code: dtype for dtype, code in _CODES.items()}


def pack_array(array: np.ndarray) -> bytes:
    """Serialise a float64/float32/int64/int32/bool array to bytes (little-endian)."""
    arr = np.asarray(array)
    dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder not in ("=", "<", "|") else arr.dtype
    dtype = np.dtype(dtype.str.replace("=", "<"))
    if dtype not in _CODES:
        msg = f"cannot store an array of dtype {arr.dtype}; convert it to float64, int64 or bool"
        raise TypeError(msg)
    arr = np.ascontiguousarray(arr, dtype=dtype)
    header = struct.pack(f"<BB{arr.ndim}I", _CODES[dtype], arr.ndim, *arr.shape)
    return header + arr.tobytes()


def unpack_array(blob: bytes) -> np.ndarray:
    """Inverse of :func:`pack_array`; returns a writable array."""
    code, ndim = struct.unpack_from("<BB", blob)
    shape = struct.unpack_from(f"<{ndim}I", blob, 2)
    offset = 2 + 4 * ndim
    return np.frombuffer(blob, dtype=_DTYPES[code], offset=offset).reshape(shape).copy()


class NumpyArray(TypeDecorator[np.ndarray]):
    """SQLAlchemy column type for numpy arrays (BLOB on SQLite, BYTEA on PostgreSQL)."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        return None if value is None else pack_array(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> np.ndarray | None:
        return None if value is None else unpack_array(bytes(value))
