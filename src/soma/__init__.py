"""Soma, a self-hosted AI agent platform."""

import os

__version__ = "0.1.0"

# One BLAS thread per matrix product, set before anything loads numpy (pgvector imports it): numpy's
# OpenBLAS otherwise keeps a thread per core spinning after each product, so embedding one text cost
# 68 ms of CPU for 9 ms of work, and a Soma process serves many requests at once anyway. An operator's
# own OPENBLAS_NUM_THREADS is kept. (bench: a batch of 1,000 texts takes 1.4× the time on one thread, 0.7× the CPU.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
