"""cocotb bench of a simulated board: its serial cable bridged to a TCP socket.

The job file (``$EIEGEN_JOB``, JSON) names a file to write the listening
port into. The host driver connects (pyserial's ``socket://`` URL) and talks
to the simulated board exactly as to a real one; the bench passes bytes
both ways until the driver hangs up, then ends.
"""

import json
import os
import socket
from collections import deque

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, Timer
from cocotb.utils import get_sim_time

#: Give up if no driver connects within this many seconds of wall time.
CONNECT_TIMEOUT_S = 60


@cocotb.test()
async def board(dut):
    job = json.loads(open(os.environ["EIEGEN_JOB"]).read())
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(CONNECT_TIMEOUT_S)
    port_file = job["port_file"]
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.getsockname()[1]))
    os.replace(port_file + ".tmp", port_file)

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.host_tx__valid.value = 0
    dut.host_rx__ready.value = 0
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0

    conn, _ = server.accept()
    conn.setblocking(False)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pending = deque()
    period = job["poll_cycles"]
    # (cycle, bytes handed to the cable so far, bytes received so far) whenever
    # either grows: the driver maps its own byte counts to the board's cycles.
    timeline, handed_total, received_total = [], 0, 0
    while True:
        try:
            chunk = conn.recv(65536)
            if not chunk:
                break  # the driver hung up
            pending.extend(chunk)
        except BlockingIOError:
            pass
        received = bytearray()
        # Hand the cable's buffer what it can take, a byte a cycle, and drain
        # what came back.
        await FallingEdge(dut.clk)
        handed = 0
        while pending and dut.host_tx__ready.value:
            dut.host_tx__payload.value = pending.popleft()
            dut.host_tx__valid.value = 1
            handed += 1
            await FallingEdge(dut.clk)
        dut.host_tx__valid.value = 0
        while dut.host_rx__valid.value:
            received.append(int(dut.host_rx__payload.value))
            dut.host_rx__ready.value = 1
            await FallingEdge(dut.clk)
            dut.host_rx__ready.value = 0
        if received:
            conn.sendall(bytes(received))
        if handed or received:
            handed_total += handed
            received_total += len(received)
            timeline.append((int(get_sim_time(unit="ns")) // 10, handed_total, received_total))
        # One timer, not a callback every cycle: the simulator runs free, for
        # as long as the cable takes to send what it was handed (10 bit
        # times a byte), so its buffer runs dry only once the frame is out.
        await Timer(10 * max(period, handed * 10 * job["divisor"]), unit="ns")
    conn.close()
    server.close()
    if job.get("timeline_file"):
        with open(job["timeline_file"], "w") as f:
            json.dump(timeline, f)
