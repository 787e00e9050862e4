#!/usr/bin/env python3
"""The C snippets in README.md compile cleanly and do what the README says.

usage: readme_snippets.py README.md INCLUDE_DIR LIBWS_SO PATH/TO/echo_server
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checks, stop  # noqa: E402

C = Checks("readme_snippets")
EXPECT = [
    lambda out: out == "Hello, libws!\n",
    lambda out: "opcode 1: Hello\n" in out and "opcode 9: \n" in out and "2 bytes to send" in out,
]

if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    readme, include, lib, server = sys.argv[1:]
    libdir = os.path.dirname(os.path.abspath(lib))
    blocks = re.findall(r"^```c\n(.*?)^```", open(readme, encoding="utf-8").read(), re.S | re.M)
    C.check(len(blocks) == len(EXPECT), f"{len(blocks)} C blocks in README.md, {len(EXPECT)} expected")
    proc = subprocess.Popen([server, "0"], stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split()[-1]
        with tempfile.TemporaryDirectory() as tmp:
            for i, (code, expect) in enumerate(zip(blocks, EXPECT)):
                src, exe = os.path.join(tmp, f"snippet{i}.c"), os.path.join(tmp, f"snippet{i}")
                open(src, "w", encoding="utf-8").write(code)
                cc = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", include, src,
                                     "-L", libdir, "-lws", f"-Wl,-rpath,{libdir}", "-o", exe],
                                    capture_output=True, text=True)
                C.check(cc.returncode == 0, f"snippet {i} compiles: {cc.stderr}")
                if cc.returncode != 0:
                    continue
                r = subprocess.run([exe, url], capture_output=True, text=True, timeout=30)
                C.check(r.returncode == 0 and expect(r.stdout), f"snippet {i} output: {r}")
    finally:
        stop(proc)
    sys.exit(C.report())
