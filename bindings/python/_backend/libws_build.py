"""A minimal PEP 517 / PEP 660 build backend for the libws Python package.

Standard library only, so ``pip install bindings/python`` needs no network
(pip's isolated build environment has nothing to download). It packs the
``libws`` package directory -- Python modules, ``py.typed`` and the
``libws.so`` that ``./build.sh`` copied there -- into a platform wheel
(``py3-none-<platform>``: the shared library is native code).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import sysconfig
import tarfile
import time
import zipfile
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(HERE, "libws")
NAME = "libws"


def _project() -> Dict[str, str]:
    text = open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8").read()
    section = text.split("[project]", 1)[1].split("\n[", 1)[0]
    out = {}
    for key in ("name", "version", "description", "requires-python"):
        m = re.search(rf'^{re.escape(key)}\s*=\s*"([^"]*)"', section, re.M)
        if m:
            out[key] = m.group(1)
    return out


def _version() -> str:
    return _project()["version"]


def _tag() -> str:
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"py3-none-{plat}"


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


def _package_files() -> List[Tuple[str, str]]:
    """(absolute path, archive name) of every file the wheel ships."""
    so = os.path.join(PKG, "libws.so")
    if not os.path.exists(so) and not os.environ.get("LIBWS_WHEEL_WITHOUT_LIBRARY"):
        raise RuntimeError(
            f"{so} is missing: run ./build.sh at the repository root first (it builds libws.so "
            "and copies it there), or set LIBWS_WHEEL_WITHOUT_LIBRARY=1 to build a wheel that "
            "loads libws.so from $LIBWS_LIBRARY or the system path."
        )
    files = []
    for name in sorted(os.listdir(PKG)):
        path = os.path.join(PKG, name)
        if os.path.isfile(path) and (name.endswith(".py") or name in ("py.typed", "libws.so")):
            files.append((path, f"{NAME}/{name}"))
    return files


def _hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _write_wheel(directory: str, entries: List[Tuple[str, bytes]]) -> str:
    version = _version()
    tag = _tag()
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
            mode = 0o755 if arcname.endswith(".so") else 0o644
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
    entries = []
    for path, arcname in _package_files():
        with open(path, "rb") as f:
            entries.append((arcname, f.read()))
    return _write_wheel(wheel_directory, entries)


def build_editable(
    wheel_directory: str, config_settings: Optional[dict] = None, metadata_directory: Optional[str] = None
) -> str:
    # A .pth file that puts this directory on sys.path.
    return _write_wheel(wheel_directory, [(f"_{NAME}_editable.pth", (HERE + "\n").encode())])


def build_sdist(sdist_directory: str, config_settings: Optional[dict] = None) -> str:
    version = _version()
    base = f"{NAME}-{version}"
    name = f"{base}.tar.gz"
    skip = {"__pycache__", ".pytest_cache", "build", "dist"}
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tf:
        for root, dirs, files in os.walk(HERE):
            dirs[:] = sorted(d for d in dirs if d not in skip and not d.endswith(".egg-info"))
            for fn in sorted(files):
                if fn.endswith((".pyc", ".whl")):
                    continue
                path = os.path.join(root, fn)
                rel = os.path.relpath(path, HERE)
                info = tf.gettarinfo(path, f"{base}/{rel}")
                info.mtime = int(time.time())
                with open(path, "rb") as f:
                    tf.addfile(info, f)
        pkg_info = _metadata().encode()
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(pkg_info)
        info.mtime = int(time.time())
        tf.addfile(info, io.BytesIO(pkg_info))
    return name
