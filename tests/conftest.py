"""Test-session settings and the fixtures the CLI tests share."""

import re

import numpy as np
import pytest

from sw.cli import main


@pytest.fixture(autouse=True, scope="session")
def one_blas_thread():
    # As the CLI does: threaded OpenBLAS is far slower on shared cores.
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):
        yield


@pytest.fixture
def cli(capsys):
    """``cli(*argv)`` runs ``eiegen argv`` in-process: ``(status, stdout, stderr)``."""
    def run(*argv):
        try:
            status = main(list(argv))
        except SystemExit as exit:  # argparse usage errors
            status = exit.code
        out, err = capsys.readouterr()
        return status, out, err
    return run


def _save(tmp_path, name, array):
    path = tmp_path / name
    np.save(path, array)
    return str(path)


@pytest.fixture
def save():
    """``save(folder, name, array)``: the array as folder/name.npy; its path as a string."""
    return _save


@pytest.fixture
def sim_refused(cli, tmp_path):
    """``sim_refused(message, *argv)`` runs ``eiegen sim *argv --out Y --report R``
    (both in ``tmp_path``), which must fail with one line ``eiegen: error: ...``
    matching the regular expression ``message`` and write neither file."""
    def run(message, *argv):
        out, report = tmp_path / "y.npy", tmp_path / "r.json"
        status, _, err = cli("sim", *argv, "--out", str(out), "--report", str(report))
        assert status != 0
        assert len(err.strip().splitlines()) == 1 and re.match(r"eiegen[ \w-]*: error:", err), err
        assert re.search(message, err), err
        assert not out.exists() and not report.exists()
    return run
