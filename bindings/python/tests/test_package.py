"""Loading libws.so, version, packaging, errors, docs."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import PKG_ROOT

import libws
from libws import _ffi


def test_version_matches_library():
    assert libws.__version__ == _ffi.lib.ws_version().decode()
    assert libws.version() == libws.__version__
    major, minor, patch = (int(x) for x in libws.__version__.split("."))
    assert libws.version_number() == major * 10000 + minor * 100 + patch


def test_version_matches_header_and_pyproject():
    header = os.path.join(PKG_ROOT, "..", "..", "include", "ws.h")
    if os.path.exists(header):
        m = re.search(r'#define WS_VERSION_STRING "([^"]+)"', open(header).read())
        assert m and m.group(1) == libws.__version__
    # The package's version is the header's, read by the build backend.
    spec = importlib.util.spec_from_file_location("libws_build", os.path.join(PKG_ROOT, "_backend", "libws_build.py"))
    backend = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backend)
    assert backend._version() == libws.__version__


def test_library_path_is_loaded_library():
    assert os.path.exists(libws.library_path) or libws.library_path.startswith("libws")


def test_strerror_and_codes():
    assert libws.strerror(libws.OK) == "success"
    assert libws.strerror(libws.EINVAL) == "invalid argument"
    assert libws.strerror(libws.ECLOSED) == "connection closed"
    assert libws.strerror(12345) == "unknown error"
    codes = [libws.EINVAL, libws.EBADHANDLE, libws.ENOMEM, libws.EPROTO, libws.EUTF8, libws.ETOOBIG,
             libws.ECLOSED, libws.ETIMEDOUT, libws.EIO, libws.EHANDSHAKE, libws.ETLS, libws.ENOSPACE,
             libws.EAGAIN, libws.EINTERNAL]
    assert codes == list(range(-1, -15, -1))


def test_error_classes():
    e = libws.WebSocketError(libws.EIO, "boom")
    assert e.code == libws.EIO and e.message == "boom" and "boom" in str(e) and "I/O error" in str(e)
    assert str(libws.WebSocketError(libws.EINVAL)) == "invalid argument"
    bye = libws.CloseFrame(1000, "bye")
    c = libws.ConnectionClosedOK(bye, bye, True)
    assert isinstance(c, libws.ConnectionClosed) and isinstance(c, libws.WebSocketError)
    assert c.status == libws.ECLOSED and c.code == c.close_code == 1000 and c.reason == c.close_reason == "bye"
    assert str(c) == "received 1000 (OK) bye; then sent 1000 (OK) bye"
    assert c.rcvd == bye and c.sent == bye and c.rcvd_then_sent is True
    p = libws.ProtocolError(libws.EUTF8, "bad")
    assert p.close_code == 1007 and p.code == libws.EUTF8
    assert libws.ProtocolError(libws.ETOOBIG).close_code == 1009
    assert libws.ProtocolError(libws.EPROTO).close_code == 1002
    assert issubclass(libws.WebSocketTimeout, TimeoutError)
    import pickle

    c2 = pickle.loads(pickle.dumps(libws.ConnectionClosedError(None, libws.CloseFrame(1002), None, libws.EPROTO, "bad")))
    assert (c2.close_code, c2.code, c2.status, c2.message, c2.sent) == (1002, 1006, libws.EPROTO, "bad", libws.CloseFrame(1002))
    s = pickle.loads(pickle.dumps(libws.InvalidStatus(libws.Response(403))))
    assert isinstance(s, libws.InvalidHandshake) and s.response.status_code == 403 and "HTTP 403" in str(s)
    assert issubclass(libws.ConnectFailed, OSError) and issubclass(libws.WebSocketTimeout, OSError)


def test_docstring_documents_process_rules():
    doc = libws.__doc__
    assert "fork" in doc and "spawn" in doc
    assert "One Go runtime per process" in doc


def _copy_package(tmp_path, with_library: bool):
    dst = tmp_path / "pkg" / "libws"
    dst.mkdir(parents=True)
    for name in os.listdir(os.path.join(PKG_ROOT, "libws")):
        if name.endswith(".py"):
            shutil.copy(os.path.join(PKG_ROOT, "libws", name), dst / name)
    if with_library:
        shutil.copy(libws.library_path, dst / "libws.so")
    return tmp_path / "pkg"


def _python(path, code, env_extra):
    env = {k: v for k, v in os.environ.items() if k not in ("LIBWS_LIBRARY", "LD_LIBRARY_PATH", "PYTHONPATH")}
    env.update(env_extra)
    env["PYTHONPATH"] = str(path)
    # cwd: "python -c" puts the working directory first on sys.path.
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30,
                          cwd=str(path))


def test_load_error_names_all_three_places(tmp_path):
    import ctypes.util

    if ctypes.util.find_library("ws"):
        pytest.skip("a libws is installed on the system library path")
    path = _copy_package(tmp_path, with_library=False)
    r = _python(path, "import libws", {"LIBWS_LIBRARY": str(tmp_path / "nope.so")})
    assert r.returncode != 0
    assert "ImportError" in r.stderr
    assert "inside the package" in r.stderr
    assert "LIBWS_LIBRARY" in r.stderr and "nope.so" in r.stderr
    assert "system library path" in r.stderr


def test_load_from_env_variable(tmp_path):
    path = _copy_package(tmp_path, with_library=False)
    r = _python(path, "import libws; print(libws.library_path); print(libws.__version__)",
                {"LIBWS_LIBRARY": libws.library_path})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [libws.library_path, libws.__version__]


def test_package_library_comes_first(tmp_path):
    path = _copy_package(tmp_path, with_library=True)
    r = _python(path, "import libws; print(libws.library_path)", {"LIBWS_LIBRARY": "/nonexistent/libws.so"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(path / "libws" / "libws.so")


def test_build_backend_makes_a_wheel_with_the_library(tmp_path):
    spec = importlib.util.spec_from_file_location("libws_build", os.path.join(PKG_ROOT, "_backend", "libws_build.py"))
    backend = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backend)
    assert backend.get_requires_for_build_wheel() == []
    if not os.path.exists(os.path.join(PKG_ROOT, "libws", "libws.so")):
        pytest.skip("libws.so is not in the package directory (run ./build.sh)")
    name = backend.build_wheel(str(tmp_path))
    assert name.startswith(f"libws-{libws.__version__}-py3-none-")
    with zipfile.ZipFile(tmp_path / name) as zf:
        names = set(zf.namelist())
        assert {"libws/__init__.py", "libws/asyncio.py", "libws/libws.so", "libws/py.typed"} <= names
        record = zf.read(f"libws-{libws.__version__}.dist-info/RECORD").decode()
        assert "libws/libws.so,sha256=" in record
        meta = zf.read(f"libws-{libws.__version__}.dist-info/METADATA").decode()
        assert f"Version: {libws.__version__}" in meta
    # The wheel works on its own.
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(tmp_path / name) as zf:
        zf.extractall(unpacked)
    r = _python(unpacked, "import libws, libws.asyncio; print(libws.library_path)", {})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(unpacked / "libws" / "libws.so")


def test_pip_install_offline(tmp_path):
    if not os.path.exists(os.path.join(PKG_ROOT, "libws", "libws.so")):
        pytest.skip("libws.so is not in the package directory (run ./build.sh)")
    target = tmp_path / "site"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--disable-pip-version-check", "-q",
         "--target", str(target), PKG_ROOT],
        capture_output=True, text=True, timeout=120, cwd=str(tmp_path),
    )
    if r.returncode != 0 and "No module named pip" in r.stderr:
        pytest.skip("pip is not available")
    assert r.returncode == 0, r.stderr
    out = _python(target, "import libws, libws.asyncio; print(libws.library_path, libws.__version__)", {})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(target / "libws" / "libws.so"), libws.__version__]
