"""How the engine's processes give freed memory back: a little later than the C library's default.

Extraction and transform build a chunk's records (thousands of dicts and byte strings), write them and
free them, a chunk every few milliseconds. glibc hands freed memory at the top of its heap back to the
kernel as soon as 128 KiB are free (``M_TRIM_THRESHOLD``), so the next chunk takes the same pages again,
each with a page fault. :func:`keep_freed_memory` raises that threshold to 64 MiB: the pages stay with
the process and are reused. The peak (the high-water mark) does not change; between chunks the process
may keep up to 64 MiB more. Measured (``bench/extract_transform.py``, 1,000,000 rows): writing the
transform's chunks went from 7.8 to 4.5 us a row on the benchmark VM, where a page fault costs about
3 us (a few tenths of a microsecond on most hosts, so the gain there is smaller).

Called by the entry points (``function_app.py``, the CLI) and by each transform worker process. A
``MALLOC_TRIM_THRESHOLD_`` in the environment (glibc's own setting) is left as it is; where the C
library is not glibc, nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

KEEP_BYTES = 64 << 20
_M_TRIM_THRESHOLD = -1  # glibc's malloc.h


def keep_freed_memory(keep: int = KEEP_BYTES) -> bool:
    """Keep up to ``keep`` bytes of freed heap in the process (glibc ``mallopt``); whether it was set."""
    if os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(keep)))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt, macOS no libc.so.6)
        return False
