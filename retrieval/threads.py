"""OpenMP settings for the embedding engine and FAISS, applied before either library loads.

Both ship their own OpenMP runtime (libgomp), which reads its settings from the environment
once, when it is loaded. By default an idle libgomp thread spins for 300,000 rounds before it
sleeps; with one CPU-bound neighbour process on a 2-core machine, a spinning thread holds a core
while the thread it waits for is parked behind the neighbour, and every one of the ~200 barriers in
a forward pass waits out a scheduler slice: 20 questions took 31.8 s instead of about 1 s
(issue 12). A passive wait (no spinning) fixes that but wakes threads through the kernel at every
barrier, 1.7× slower on a quiet machine. A short spin keeps both: long enough to bridge the
microseconds between the parallel loops of one forward pass, short enough to give the core away
quickly when the other thread is not running. bench/contention.py measures the choice.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

# Rounds an idle OpenMP thread spins before sleeping (libgomp's default is 300,000).
SPIN_COUNT = 1000


def configure() -> None:
    """Set the OpenMP wait for every runtime not loaded yet; the user's own settings win."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", str(SPIN_COUNT))


def cpu_count() -> int:
    """Cores this process may run on (its affinity mask, which containers narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def openmp_runtime(package: str) -> Any | None:
    """The loaded libgomp that `package` links against, to set thread counts per call.

    In libgomp `omp_set_num_threads` applies to the calling thread only, which is what lets one
    process run a query on two threads and batches on one thread each. None when it cannot be
    found (not Linux, another OpenMP runtime): callers then keep the engine's own default.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = {line.split(None, 5)[-1].strip() for line in fh if "libgomp" in line}
    except OSError:
        return None
    paths = {p for p in paths if p.startswith("/")}
    preferred = sorted(p for p in paths if package in p) or sorted(p for p in paths if "faiss" not in p)
    for path in preferred:
        try:
            runtime = ctypes.CDLL(path)
            runtime.omp_set_num_threads.argtypes = [ctypes.c_int]
            return runtime
        except (OSError, AttributeError):
            continue
    return None
