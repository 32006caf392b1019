"""Shared test configuration: one BLAS thread per test process, and the Hypothesis `ci`
profile (no deadline, derandomised).

Two pytest-xdist workers on 2 cores, each with a multi-threaded OpenBLAS pool, oversubscribe the
CPU (small batched SVDs then run tens of times slower); every test process therefore runs one
BLAS/OpenMP thread, set through the environment (before numpy loads its BLAS, when it has not
yet) and through threadpoolctl (when it has) — the library's one place for that decision,
:func:`finetune_bounds.threads.pin_process`.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from hypothesis import HealthCheck, settings  # noqa: E402

from finetune_bounds.threads import pin_process  # noqa: E402

pin_process(1)

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    max_examples=40,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
