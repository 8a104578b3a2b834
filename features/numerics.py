"""How shelfwise's processes run numpy, OpenBLAS and Arrow: one BLAS thread, on x86-64 the
same floating-point results on every machine, and on Linux Arrow memory handed back when freed.

``training`` and ``serving`` call :func:`configure` before anything imports numpy; the test
suite's conftest does too. Both libraries read these variables once, when they load, and
subprocesses inherit them.

Why pin the kernels: numpy and OpenBLAS pick their code for the CPU at run time (AVX2 or
AVX-512), and the two round differently in the last bits. The blended recommender's
validation curve is nearly flat, so such bits moved its early-stopping point from 128 rounds
(AVX2) to 86 (an AVX-512 machine's own kernels) and its held-out NDCG@10 from 0.3963 to
0.3951 (docs/results.md, "Reproducing the figures"). With the AVX2 kernels on every x86-64 machine
that has them, a rerun elsewhere gives the same champion. ``SHELFWISE_PORTABLE_NUMERICS=0``
lets each machine use its fastest kernels instead (an EASE fit 2.2 s instead of 2.7 s on
AVX-512).
"""

from __future__ import annotations

import os
import platform

from threadpoolctl import threadpool_limits

# numpy's (2.x) dispatch targets above AVX2; unknown or unsupported names only warn.
NUMPY_AVX512_TARGETS = "X86_V4 AVX512_ICL AVX512_SPR"
OPENBLAS_PORTABLE_CORE = "Haswell"  # OpenBLAS's AVX2 + FMA kernels


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:  # not Linux: leave the libraries their own choice
        pass
    return set()


def configure() -> None:
    """One BLAS thread and portable kernels, unless the user set the variables otherwise."""
    # Idle OpenBLAS threads spin on the cores that LightGBM's and implicit's own threads need,
    # and a request's small products gain nothing from more threads. The variable reaches the
    # BLAS libraries that load from now on; the limit, those a notebook loaded already.
    # Without either, notebook 02 took 398 s instead of about 90.
    if "OPENBLAS_NUM_THREADS" not in os.environ:
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
        threadpool_limits(1, "blas")
    if platform.system() == "Linux":
        # Arrow's default allocator (mimalloc) kept freed table memory resident: a feature build
        # held 0.9 GB after reading a 0.2 GB events table, 0.5 GB with jemalloc, which returns
        # it (Linux wheels of pyarrow include it).
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    portable = os.environ.get("SHELFWISE_PORTABLE_NUMERICS", "1") != "0"
    if not portable or platform.machine() not in ("x86_64", "AMD64"):
        return
    flags = cpu_flags()
    if {"avx2", "fma"} <= flags:  # else OpenBLAS would stop on an illegal instruction
        os.environ.setdefault("OPENBLAS_CORETYPE", OPENBLAS_PORTABLE_CORE)
        if "avx512f" in flags:
            os.environ.setdefault("NPY_DISABLE_CPU_FEATURES", NUMPY_AVX512_TARGETS)


def return_arrow_memory_at_once() -> None:
    """Arrow's jemalloc hands freed pages back to the system when they are freed (decay 0),
    not later at some allocation: for a long-lived process that reads a large table once,
    a service worker, which otherwise keeps the table's size resident for as long as it runs.
    A no-op where Arrow allocates with another allocator."""
    import pyarrow as pa

    if pa.default_memory_pool().backend_name == "jemalloc":
        pa.jemalloc_set_decay_ms(0)


def lightgbm_threads() -> int:
    """LightGBM's threads in training: ``SHELFWISE_LIGHTGBM_THREADS``, 2 by default.

    A fixed number rather than every core, so a run does what the documented figures measured
    (the recommenders' training target is for 2 cores). The test suite's processes
    (``make test`` runs two) take one each, or their four threads fight over two cores.
    """
    value = os.environ.get("SHELFWISE_LIGHTGBM_THREADS", "2")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"SHELFWISE_LIGHTGBM_THREADS={value!r}: give a whole number of threads, 1 or more")
    return int(value)


def lightgbm_run(seed: int) -> dict:
    """The LightGBM parameters every shelfwise model shares: the same trees from the same data
    and ``seed`` on every run (``deterministic``), :func:`lightgbm_threads` threads, quiet."""
    return {"seed": seed, "deterministic": True, "num_threads": lightgbm_threads(), "verbose": -1}
