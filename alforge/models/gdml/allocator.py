"""Keep freed memory in the process so that per-step predictions do not page-fault.

A prediction for one structure allocates a few MB of temporaries (cross-covariances over every
training structure) and frees them before the next MD step. With its default settings glibc
hands freed blocks above 128 kB back to the kernel (``munmap``, heap trimming), so every step
faults the same pages in again: measured on the 2-core benchmark VM, that was about a third of the
time of an ethanol prediction with uncertainty (``benchmarks/model_vs_sgdml.py``). PyTorch's CPU
tuning guide gives the same advice in the form of jemalloc or tcmalloc; this is the glibc
equivalent, set once per process.
"""

from __future__ import annotations

import ctypes
import platform

__all__ = ["retain_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's ceiling on 64-bit
_TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024
_done = False


def retain_freed_memory() -> bool:
    """Serve blocks under 32 MB from the heap and keep up to 256 MB of it free (glibc only).

    Returns
    -------
    bool
        Whether the settings are in effect (``False`` on other C libraries, where this does nothing).
    """
    global _done  # a process-wide setting, applied once
    if _done:
        return True
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        ok = libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES) == 1 and ok
    except (OSError, AttributeError):
        return False
    _done = ok
    return ok
