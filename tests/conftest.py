"""Test-session settings."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    # As the CLI does: threaded OpenBLAS is far slower on shared cores.
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):
        yield
