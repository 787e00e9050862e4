"""A minimal PEP 517 / PEP 660 build backend for the libws Python package.

Standard library only, so ``pip install bindings/python`` needs no network
(pip's isolated build environment has nothing to download). It packs the
``libws`` package directory -- Python modules, ``py.typed`` and
``libws.so`` -- into a platform wheel (``py3-none-<platform>``: the shared
library is native code; ``./build.sh dist`` retags it ``manylinux_*`` after
``auditwheel`` checked which).

``libws.so`` is the one ``./build.sh`` copied into ``libws/``; when it is not
there and the Go sources are (the sdist carries them in ``src/``; a checkout
has them two levels up), it is built with the Go toolchain.

A wheel for another platform (``./build.sh dist`` makes the macOS and Windows
ones from the cross-built libraries) takes two config settings::

    python -m build --wheel -C platform=macosx_12_0_arm64 -C library=.../libws.dylib

``platform`` is the wheel's platform tag, ``library`` the file shipped as
``libws/<its name>``; the name must be the one ``libws/_ffi.py`` loads on
that platform (``LIB_NAMES`` below), the Python modules are the same.

The version has one source, ``WS_VERSION_STRING`` in ``include/ws.h``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import shutil
import subprocess
import sysconfig
import tarfile
import tempfile
import time
import zipfile
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(HERE, "libws")
NAME = "libws"
# Where the Go module is: inside an sdist, then in the checkout.
GO_ROOTS = (os.path.join(HERE, "src"), os.path.normpath(os.path.join(HERE, "..", "..")))
# What of the Go module an sdist carries to build libws.so: the module files,
# the engine, the C ABI and its header (tests, examples and benchmarks stay out).
GO_TREES = ("capi", "libws")
GO_FILES = ("go.mod", "go.sum", "include/ws.h")


def _go_root() -> Optional[str]:
    for root in GO_ROOTS:
        if all(os.path.exists(os.path.join(root, f)) for f in GO_FILES + GO_TREES):
            return root
    return None


def _project() -> Dict[str, str]:
    text = open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8").read()
    section = text.split("[project]", 1)[1].split("\n[", 1)[0]
    out = {}
    for key in ("name", "description", "requires-python"):
        m = re.search(rf'^{re.escape(key)}\s*=\s*"([^"]*)"', section, re.M)
        if m:
            out[key] = m.group(1)
    out["version"] = _version()
    return out


def _version() -> str:
    root = _go_root()
    if root is None:
        raise RuntimeError(
            f"include/ws.h (the source of the version) is in none of {', '.join(GO_ROOTS)}: "
            "build from the libws repository (bindings/python) or from its sdist"
        )
    text = open(os.path.join(root, "include", "ws.h"), encoding="utf-8").read()
    m = re.search(r'^#define WS_VERSION_STRING "([0-9]+\.[0-9]+\.[0-9]+)"', text, re.M)
    if not m:
        raise RuntimeError(f"no WS_VERSION_STRING in {os.path.join(root, 'include', 'ws.h')}")
    return m.group(1)


# The library's file name by wheel platform tag prefix: what libws/_ffi.py
# loads for the matching sys.platform (darwin, win32, the rest).
LIB_NAMES = (("macosx_", "libws.dylib"), ("win", "libws.dll"))


def lib_name_for_tag(platform: str) -> str:
    for prefix, name in LIB_NAMES:
        if platform.startswith(prefix):
            return name
    return "libws.so"


def _tag(platform: Optional[str] = None) -> str:
    plat = platform or sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"py3-none-{plat}"


def _cross_settings(config_settings: Optional[dict]) -> Tuple[Optional[str], Optional[str]]:
    """(platform tag, library path) of a wheel for another platform, or (None, None)."""
    cs = config_settings or {}
    platform, library = cs.get("platform"), cs.get("library")
    if not platform and not library:
        return None, None
    if not platform or not library:
        raise RuntimeError("the config settings platform and library go together (a wheel for another platform)")
    if not re.fullmatch(r"[a-z0-9_]+", platform):
        raise RuntimeError(f"platform {platform!r} is not a wheel platform tag (e.g. macosx_12_0_arm64, win_amd64)")
    want = lib_name_for_tag(platform)
    if os.path.basename(library) != want:
        raise RuntimeError(f"a {platform} wheel ships {want} (what libws/_ffi.py loads there), not {library}")
    if not os.path.isfile(library):
        raise RuntimeError(f"library {library} does not exist")
    return platform, os.path.abspath(library)


def _metadata() -> str:
    p = _project()
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {NAME}",
        f"Version: {p['version']}",
        f"Summary: {p.get('description', '')}",
        f"Requires-Python: {p.get('requires-python', '>=3.9')}",
        "Provides-Extra: test",
        "Requires-Dist: pytest; extra == \"test\"",
        "Requires-Dist: websockets; extra == \"test\"",
    ]
    readme = os.path.join(HERE, "README.md")
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        body = open(readme, encoding="utf-8").read()
        return "\n".join(lines) + "\n\n" + body
    return "\n".join(lines) + "\n"


def _build_library(directory: str) -> str:
    """Builds libws.so from the Go sources into directory; returns its path."""
    root = _go_root()
    go = shutil.which("go")
    if root is None or go is None:
        raise RuntimeError(
            f"{os.path.join(PKG, 'libws.so')} is missing and "
            + ("the Go toolchain is not on PATH" if root else "the Go sources are not here")
            + ": run ./build.sh at the repository root first (it builds libws.so and copies it "
            "there), install Go 1.26 or newer to build from this source, or set "
            "LIBWS_WHEEL_WITHOUT_LIBRARY=1 to build a wheel that loads libws.so from "
            "$LIBWS_LIBRARY or the system path."
        )
    major = _version().split(".")[0]
    out = os.path.join(directory, "libws.so")
    # The flags of build.sh and CMakeLists.txt: SONAME libws.so.MAJOR, only
    # the functions of ws.h exported.
    ldflags = (
        f"-s -w -extldflags=-Wl,-soname=libws.so.{major},"
        f"--version-script={os.path.join(root, 'capi', 'libws.map')}"
    )
    cmd = [go, "build", "-buildmode=c-shared", "-trimpath", f"-ldflags={ldflags}", "-o", out, "./capi"]
    r = subprocess.run(cmd, cwd=root, env=dict(os.environ, CGO_ENABLED="1"), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"building libws.so failed ({' '.join(cmd)}):\n{r.stdout}{r.stderr}")
    return out


def _package_files(tmp: str, library: Optional[str] = None) -> List[Tuple[str, str]]:
    """(absolute path, archive name) of every file the wheel ships; library,
    when given, in place of this platform's libws.so."""
    so = os.path.join(PKG, "libws.so")
    files = []
    for name in sorted(os.listdir(PKG)):
        path = os.path.join(PKG, name)
        native = name == "libws.so" and library is None
        if os.path.isfile(path) and (name.endswith(".py") or name == "py.typed" or native):
            files.append((path, f"{NAME}/{name}"))
    if library is not None:
        files.append((library, f"{NAME}/{os.path.basename(library)}"))
    elif not os.path.exists(so) and not os.environ.get("LIBWS_WHEEL_WITHOUT_LIBRARY"):
        files.append((_build_library(tmp), f"{NAME}/libws.so"))
    return files


def _hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _write_wheel(directory: str, entries: List[Tuple[str, bytes]], platform: Optional[str] = None) -> str:
    version = _version()
    tag = _tag(platform)
    dist_info = f"{NAME}-{version}.dist-info"
    wheel_name = f"{NAME}-{version}-{tag}.whl"
    entries = list(entries)
    entries.append((f"{dist_info}/METADATA", _metadata().encode()))
    entries.append(
        (
            f"{dist_info}/WHEEL",
            f"Wheel-Version: 1.0\nGenerator: libws_build\nRoot-Is-Purelib: false\nTag: {tag}\n".encode(),
        )
    )
    entries.append((f"{dist_info}/top_level.txt", f"{NAME}\n".encode()))
    record = io.StringIO()
    for arcname, data in entries:
        record.write(f"{arcname},{_hash(data)},{len(data)}\n")
    record.write(f"{dist_info}/RECORD,,\n")
    entries.append((f"{dist_info}/RECORD", record.getvalue().encode()))
    path = os.path.join(directory, wheel_name)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arcname, data in entries:
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if arcname.endswith((".so", ".dylib", ".dll")) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            zf.writestr(info, data)
    return wheel_name


# ---------------------------------------------------------------- PEP 517


def get_requires_for_build_wheel(config_settings: Optional[dict] = None) -> List[str]:
    return []


def get_requires_for_build_sdist(config_settings: Optional[dict] = None) -> List[str]:
    return []


def get_requires_for_build_editable(config_settings: Optional[dict] = None) -> List[str]:
    return []


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: Optional[dict] = None) -> str:
    dist_info = f"{NAME}-{_version()}.dist-info"
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    return dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(
    wheel_directory: str, config_settings: Optional[dict] = None, metadata_directory: Optional[str] = None
) -> str:
    platform, library = _cross_settings(config_settings)
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for path, arcname in _package_files(tmp, library):
            with open(path, "rb") as f:
                entries.append((arcname, f.read()))
    return _write_wheel(wheel_directory, entries, platform)


def build_editable(
    wheel_directory: str, config_settings: Optional[dict] = None, metadata_directory: Optional[str] = None
) -> str:
    # A .pth file that puts this directory on sys.path.
    return _write_wheel(wheel_directory, [(f"_{NAME}_editable.pth", (HERE + "\n").encode())])


def build_sdist(sdist_directory: str, config_settings: Optional[dict] = None) -> str:
    """The Python package and, in src/, the Go sources that build libws.so."""
    version = _version()
    base = f"{NAME}-{version}"
    name = f"{base}.tar.gz"
    mtime = int(time.time())
    skip = {"__pycache__", ".pytest_cache", "build", "dist", "node_modules", "testdata"}

    def add_tree(tf: tarfile.TarFile, top: str, prefix: str, keep) -> None:  # type: ignore[no-untyped-def]
        for root, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d not in skip and not d.endswith(".egg-info"))
            for fn in sorted(files):
                path = os.path.join(root, fn)
                rel = os.path.relpath(path, top)
                if keep(rel):
                    add_file(tf, path, f"{prefix}/{rel}")

    def add_file(tf: tarfile.TarFile, path: str, arcname: str) -> None:
        info = tf.gettarinfo(path, arcname)
        info.mtime = mtime
        with open(path, "rb") as f:
            tf.addfile(info, f)

    go_root = _go_root()
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tf:
        # No binaries: an sdist builds libws.so from src/.
        add_tree(tf, HERE, base, lambda rel: not rel.endswith((".pyc", ".whl", ".so", ".dylib", ".dll")) and rel.split(os.sep)[0] != "src")
        if go_root is not None and go_root != os.path.join(HERE, "src"):
            for f in GO_FILES:
                add_file(tf, os.path.join(go_root, f), f"{base}/src/{f}")
            for d in GO_TREES:
                add_tree(tf, os.path.join(go_root, d), f"{base}/src/{d}", lambda rel: not rel.endswith("_test.go"))
        elif go_root is not None:  # an sdist made from an sdist
            add_tree(tf, go_root, f"{base}/src", lambda rel: True)
        pkg_info = _metadata().encode()
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(pkg_info)
        info.mtime = mtime
        tf.addfile(info, io.BytesIO(pkg_info))
    return name
