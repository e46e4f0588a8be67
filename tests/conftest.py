"""Fixtures shared by several test files, and the skips behind the ``gpu`` and ``network`` markers."""

import os

import numpy as np
import pytest


def pytest_collection_modifyitems(config, items):
    """Skip ``gpu`` tests without a CUDA device, ``network`` tests unless NBLABEL_NETWORK=1."""
    gpu = [item for item in items if "gpu" in item.keywords]
    if gpu:
        import torch

        if not torch.cuda.is_available():
            for item in gpu:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))
    if os.environ.get("NBLABEL_NETWORK") != "1":
        for item in items:
            if "network" in item.keywords:
                item.add_marker(pytest.mark.skip(reason="needs a model hub; set NBLABEL_NETWORK=1 to run"))


@pytest.fixture
def one_torch_thread():
    """Run the test with torch on one thread, restoring the previous count afterwards."""
    # On a shared 2-core machine, torch's spinning worker threads slow tiny models down many times over.
    # Imported here so that test files which never touch torch do not pay for importing it.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _dense_normalized_affinity(nbrs, sims, T, symmetric):
    """Paper Eq. 2 in plain NumPy float64: W_ij = exp(s_ij / T) on the kNN pattern, then D^-1/2 W D^-1/2."""
    n = nbrs.shape[0]
    W = np.zeros((n, n))
    for i in range(n):
        W[i, nbrs[i]] = np.exp(sims[i].astype(np.float64) / T)
    if symmetric:
        W = W + W.T
    d = W.sum(axis=1)
    return W / np.sqrt(np.outer(d, d))


@pytest.fixture
def dense_normalized_affinity():
    """The dense reference ``(neighbors (n, k), similarities (n, k), T, symmetric) -> Wn (n, n)``."""
    return _dense_normalized_affinity
