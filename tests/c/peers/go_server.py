#!/usr/bin/env python3
"""End to end: the C example echo_client against the Go example server.

usage: go_server.py PATH/TO/echo_client PATH/TO/go-echo
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checks, free_port, stop, wait_port  # noqa: E402

C = Checks("go_server")


def client(*args):
    return subprocess.run([CLIENT, *args], capture_output=True, text=True, timeout=60)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    CLIENT, SERVER = sys.argv[1], sys.argv[2]
    port = free_port()
    proc = subprocess.Popen([SERVER, str(port)])
    try:
        C.check(wait_port(port), "go-echo is listening")
        url = f"ws://127.0.0.1:{port}/"
        r = client(url)
        C.check(r.returncode == 0 and r.stdout == "Hello, libws!\n", f"default message: {r}")
        r = client(url, "h\u00e9llo from C \u20ac")
        C.check(r.returncode == 0 and r.stdout == "h\u00e9llo from C \u20ac\n", f"utf-8 message: {r}")
        long = "x" * 70000
        r = client(url + "any/path", long)
        C.check(r.returncode == 0 and r.stdout == long + "\n", "70000-byte message")
        r = client(f"ws://127.0.0.1:{free_port()}/")
        C.check(r.returncode == 1 and "refused" in r.stderr, f"refused port: {r}")
        r = client("http://127.0.0.1/")
        C.check(r.returncode == 1 and r.stderr, f"bad url: {r}")
    finally:
        stop(proc)
    sys.exit(C.report())
