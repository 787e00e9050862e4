#!/usr/bin/env python3
"""Cost of one ws_hub_poll_raw() call from Python ctypes (the call the
asyncio binding makes), returning 1 and 64 events already waiting, and
finding none.

A client hub sends BATCH 20-byte messages to a server hub; the round's
first poll reads them from the socket, the calls after it only hand records
over. Each call is timed on its own (time.perf_counter_ns, whose own cost,
measured alongside, is subtracted); calls that found fewer records than
asked for ran the loop and are left out. Prints the medians in ns.

Usage: python3 bench/hubpoll/hubpoll.py   (after ./build.sh)
"""

import ctypes
import os
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python"))
from libws import _ffi  # noqa: E402

BATCH, SIZE, ROUNDS = 2000, 20, 20
HEADER = 24
RECORD = HEADER + (SIZE + 7) // 8 * 8
lib, fast = _ffi.lib, _ffi.fastlib
poll_raw = fast.ws_hub_poll_raw


def new_hub(threaded):
    opts = ctypes.c_void_p()
    lib.ws_options_new(ctypes.byref(opts))
    lib.ws_options_set_int(opts, _ffi.WS_OPT_HUB_THREADED, threaded)
    hub = ctypes.c_void_p()
    rc = lib.ws_hub_new(ctypes.byref(hub), opts)
    lib.ws_options_free(opts)
    assert rc == 0, rc
    return hub


def setup(threaded):
    srv, cli = new_hub(threaded), new_hub(0)
    port = ctypes.c_int()
    assert lib.ws_hub_listen(srv, b"127.0.0.1", 0, None, ctypes.byref(port)) > 0
    conn = ctypes.c_uint64()
    assert lib.ws_hub_connect(cli, b"ws://127.0.0.1:%d/" % port.value, None, ctypes.byref(conn)) == 0
    buf = ctypes.create_string_buffer(1 << 16)
    opened = accepted = False
    deadline = time.monotonic() + 5
    while not (opened and accepted) and time.monotonic() < deadline:
        n = poll_raw(cli, buf, len(buf), 1)
        opened |= n > 0 and buf.raw[0] == _ffi.WS_EVENT_OPEN
        n = poll_raw(srv, buf, len(buf), 1)
        accepted |= n > 0 and buf.raw[0] == _ffi.WS_EVENT_OPEN
    assert opened and accepted
    record = struct.pack("<BBHIQII", _ffi.WS_CMD_SEND, _ffi.WS_OP_BINARY, 0, SIZE, conn.value, 0, 0) + bytes(RECORD - HEADER)
    return srv, cli, record * BATCH, buf


def timer_cost():
    t = time.perf_counter_ns
    return statistics.median(-(t() - t()) for _ in range(10000))


def measure(threaded):
    srv, cli, records, buf = setup(threaded)
    t = time.perf_counter_ns
    out = {}
    for want in (1, 64):
        samples = []
        for _ in range(ROUNDS):
            assert lib.ws_hub_send_raw(cli, records, len(records)) == BATCH
            time.sleep(0.02)
            got = poll_raw(srv, buf, RECORD, 1000) // RECORD
            cap = want * RECORD
            while True:
                t0 = t()
                n = poll_raw(srv, buf, cap, 0)
                dt = t() - t0
                if n <= 0:
                    break
                got += n // RECORD
                if n == cap:
                    samples.append(dt)
            assert got == BATCH, got
        out[want] = statistics.median(samples)
    samples = []
    for _ in range(20000):
        t0 = t()
        poll_raw(srv, buf, len(buf), 0)
        samples.append(t() - t0)
    out[0] = statistics.median(samples)
    lib.ws_hub_free(cli)
    lib.ws_hub_free(srv)
    return out


def main():
    overhead = timer_cost()
    print("ws_hub_poll_raw from Python ctypes (median ns/call, timer cost %.0f ns subtracted)" % overhead)
    print("%-16s %10s %10s %10s" % ("", "1 event", "64 events", "none"))
    for threaded in (0, 1):
        r = measure(threaded)
        print("%-16s %10.0f %10.0f %10.0f" % ("threaded hub" if threaded else "inline hub", r[1] - overhead, r[64] - overhead, r[0] - overhead))


if __name__ == "__main__":
    main()
