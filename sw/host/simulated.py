"""A simulated board: the system top in Verilator, its serial line on a socket.

``simulated_board(...)`` yields a pyserial URL; the host driver opens it like
a serial port. Everything behind it is the generated RTL (``hw.system``),
UART included.
"""

import contextlib
import json
import tempfile
import threading
import time
from pathlib import Path

from sw.errors import EiegenError, ToolchainError
from sw.flows.toolchain import simulate, to_verilog

__all__ = ["simulated_board", "board_design", "image_for", "board_cycles", "SIM_DIVISOR"]

#: Clock cycles per UART bit in simulation: the real UART, at a rate that
#: keeps simulated transfers short.
SIM_DIVISOR = 4
TOP = "eiegen_board"


def board_design(board, model, pes=None, mac=None, **overrides):
    """``(model, engine)`` a board runs (``build`` and ``infer`` must agree on it:
    it decides the memory layout a load writes).

    With ``mac = (lanes, width)``, the dense engine (the MAC array) sized for
    ``model``, its weights baked in. Otherwise the EIE engine: ``overrides``
    (``EieConfig`` fields, ``pes`` among them) over ``board``'s organization
    (``boards.flow.BOARDS``; none when ``board`` is None), sized for ``model``
    interleaved over ``pes`` and baked in unless the engine keeps it in SPRAM
    (``engine.baked_image``), or from the options alone when ``model`` is None.
    """
    from boards.flow import board_engine
    from hw.eie import EieEngine
    from hw.eie.config import EieConfig
    from sw.flows.eie import engine_for
    if mac is not None:
        from sw.flows.dense import dense_engine_for
        return model, dense_engine_for(model, lanes=mac[0], width=mac[1])[0]
    if pes is not None:
        overrides["pes"] = pes
    if board is not None:
        overrides = board_engine(board, overrides)
    if model is None:
        return None, EieEngine(EieConfig(**overrides))
    if overrides.get("pes", model.pes) != model.pes:
        EieConfig(pes=overrides["pes"]).validate()  # a PE count, before it divides the rows
        model = model.interleaved(overrides["pes"])
    return model, engine_for(model, **overrides)[0]


def image_for(model, config):
    """``model``'s memory image for the engine ``config`` describes: the EIE
    engine's (``sw.flows.eie_image``) or the dense engine's (``sw.flows.dense_image``)."""
    from sw.flows.dense_image import build_dense_image
    from hw.dense_config import DenseConfig
    from sw.flows.eie_image import build_image
    return (build_dense_image if isinstance(config, DenseConfig) else build_image)(model, config)


def board_cycles(timeline, sent, received):
    """Board cycles from the first byte the host sent after ``sent`` bytes reaching
    the board's cable to the ``received``-th byte coming back (``simulated_board``'s
    ``timeline``)."""
    start = next(c for c, h, _ in timeline if h > sent)
    end = next(c for c, _, r in timeline if r >= received)
    return max(1, end - start)


@contextlib.contextmanager
def simulated_board(config, image=None, workdir=None, divisor=SIM_DIVISOR, timeline=None):
    """Run the board until the block exits; yield the URL to open.

    ``timeline``, a list, receives the board's ``(cycle, bytes handed to its
    cable, bytes received from it)`` at every exchange once the block exits
    (``board_cycles`` reads it).
    """
    from hw.system import SimulatedBoard
    verilog = to_verilog(SimulatedBoard(config, divisor, image), TOP)
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="eiegen-board-")
        workdir = tmp.name
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    port_file = workdir / "port"
    port_file.unlink(missing_ok=True)
    job = workdir / "job.json"
    # The bench polls the socket every 16 bit times: a frame reaches the
    # cable's buffer well inside the link's 64-bit-time timeout.
    timeline_file = workdir / "timeline.json"
    timeline_file.unlink(missing_ok=True)
    job.write_text(json.dumps({"port_file": str(port_file), "poll_cycles": 16 * divisor,
                               "divisor": divisor, "timeline_file": str(timeline_file)}))
    failure = []

    def run():
        try:
            simulate(verilog, TOP, "sw.flows.testbench.board", workdir=workdir,
                     env={"EIEGEN_JOB": str(job)})
        except ToolchainError as error:
            failure.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        while not port_file.exists():
            if not thread.is_alive():
                raise failure[0] if failure else EiegenError("the simulated board did not start")
            time.sleep(0.05)
        yield f"socket://127.0.0.1:{port_file.read_text()}"
    finally:
        # The caller has closed its connection, which ends the bench.
        thread.join(timeout=120)
        if timeline is not None and timeline_file.exists():
            timeline.extend(tuple(t) for t in json.loads(timeline_file.read_text()))
        if tmp is not None:
            tmp.cleanup()
    if failure:
        raise failure[0]
