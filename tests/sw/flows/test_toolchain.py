"""Toolchain failures are one-line errors that say what to install or fix."""

import pytest

from sw.errors import ToolchainError
from sw.flows.toolchain import simulate, verilator_env


def test_missing_compiler_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no g++, make or perl
    with pytest.raises(ToolchainError, match=r"g\+\+ not found on PATH .*install it"):
        verilator_env()


def test_failed_build_points_to_its_log(tmp_path, monkeypatch):
    monkeypatch.setenv("EIEGEN_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ToolchainError, match=r"Verilator build of broken failed .*build.log"):
        simulate("module broken(input clk; endmodule\n", "broken", "sw.flows.testbench.stream",
                 workdir=tmp_path / "run")
