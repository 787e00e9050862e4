#!/usr/bin/env python3
"""py_client.py URL: the interop script run by a Python `websockets` client.

One connection; one JSON line per step on stdout, as
{"step": "text-ascii", "ok": true, "detail": ""}. Payload formulas are those
of tests/interop/lib.mjs. Every wait is bounded.
"""
import json
import sys

from websockets.sync.client import connect

ASCII = "Hello, libws!"
UTF8 = "héllo wörld — 你好, мир 🌍🚀 \U0010FFFF"
UNIT = "aé€😀".encode()
TIMEOUT = 15
failures = 0


def report(step, ok, detail=""):
    global failures
    print(json.dumps({"step": step, "ok": bool(ok), "detail": detail}), flush=True)
    if not ok:
        failures += 1


def binary_payload(n):
    return bytes((i * 31 + 7) & 255 for i in range(n))


def text_payload(n):
    whole = n // len(UNIT)
    return (UNIT * whole + b"x" * (n - whole * len(UNIT))).decode()


def compare(step, want, got):
    if type(got) is not type(want):
        report(step, False, f"came back as {type(got).__name__}, sent {type(want).__name__}")
    elif got != want:
        wb = want.encode() if isinstance(want, str) else want
        gb = got.encode() if isinstance(got, str) else got
        i = next((k for k in range(min(len(wb), len(gb))) if wb[k] != gb[k]), min(len(wb), len(gb)))
        report(step, False, f"{len(gb)} bytes back, {len(wb)} sent, first difference at byte {i}")
    else:
        report(step, True)


def step(name, fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is a step result
        report(name, False, f"{type(e).__name__}: {e}")


def main():
    url = sys.argv[1]
    opened = False
    try:
        with connect(url, open_timeout=10, close_timeout=10, max_size=None, proxy=None,
                     ping_interval=None) as ws:
            opened = True
            script(ws)
    except Exception as e:  # noqa: BLE001
        if opened:
            raise
        report("connect", False, f"{type(e).__name__}: {e}")
    return 1 if failures else 0


def script(ws):
    # not a step: what the handshake negotiated, for the matrix's notes
    report("info-extensions", True, ws.response.headers.get("Sec-WebSocket-Extensions", ""))

    def echo(name, data):
        def run():
            ws.send(data)
            compare(name, data, ws.recv(timeout=TIMEOUT))
        step(name, run)

    def echo_fragments(name, fragments, want, text=None):
        def run():
            ws.send(iter(fragments), text=text)
            compare(name, want, ws.recv(timeout=TIMEOUT))
        step(name, run)

    echo("text-ascii", ASCII)
    echo("text-utf8", UTF8)
    echo("binary-256", binary_payload(256))
    echo("text-empty", "")
    echo("binary-empty", b"")
    for n in (125, 126, 65535, 65536):
        echo(f"text-{n}", text_payload(n))
        echo(f"binary-{n}", binary_payload(n))
    echo("binary-1MiB", binary_payload(1 << 20))
    raw = UTF8.encode()
    # bytes fragments sent as a text message, cut inside 'é' and the emoji
    echo_fragments("frag-text", [raw[:2], raw[2:9], raw[9:-2], raw[-2:]], UTF8, text=True)
    blob = binary_payload(200000)
    echo_fragments("frag-binary", [blob[:1], blob[1:70000], blob[70000:]], blob)

    def ping():
        waiter = ws.ping("ping ✓".encode())
        report("ping", waiter.wait(TIMEOUT), "" if waiter.is_set() else f"no pong in {TIMEOUT} s")
    step("ping", ping)

    def close():
        ws.close(code=4000, reason="bye — ✓")
        report("close-4000", ws.close_code == 4000, f"peer replied {ws.close_code} {ws.close_reason!r}")
    step("close-4000", close)


if __name__ == "__main__":
    sys.exit(main())
