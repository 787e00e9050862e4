#!/usr/bin/env python3
"""client.py URL [MESSAGE]

Connects to a ws:// or wss:// URL with libws's blocking API, sends MESSAGE
(default "Hello, libws!") as a text message, prints the reply and closes
cleanly (1000). Exit status 1 (with libws's error message) on failure. The
Python twin of examples/c/echo_client.c.

Usage: python3 examples/python/client.py ws://127.0.0.1:9001/ hello
"""

import os
import sys

try:
    import libws
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python"))
    import libws


def main(argv: list) -> int:
    if len(argv) not in (2, 3):
        print(f"usage: {os.path.basename(argv[0])} URL [MESSAGE]", file=sys.stderr)
        return 2
    text = argv[2] if len(argv) == 3 else "Hello, libws!"
    try:
        with libws.connect(argv[1]) as ws:
            ws.send(text)
            reply = ws.recv()
            print(reply if isinstance(reply, str) else reply.hex())
            ws.close(1000, "bye")
    except libws.WebSocketError as e:
        print(f"client: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
