"""The library file by platform: what libws/_ffi.py opens under each
sys.platform, and what the wheel for each platform tag ships (the build
backend's config settings platform and library, used by ./build.sh dist for
the macOS and Windows wheels). Nothing here loads a foreign library."""

from __future__ import annotations

import base64
import ctypes.util
import hashlib
import importlib.util
import os
import sys
import zipfile

import pytest
from conftest import PKG_ROOT

import libws
from libws import _ffi

# sys.platform -> the file the loader opens there.
LOADER = {
    "linux": "libws.so",
    "darwin": "libws.dylib",
    "win32": "libws.dll",
    "freebsd14": "libws.so",
}
# The wheels ./build.sh dist makes: platform tag -> (sys.platform, library).
WHEELS = {
    "manylinux_2_17_x86_64": ("linux", "libws.so"),
    "macosx_12_0_arm64": ("darwin", "libws.dylib"),
    "macosx_12_0_x86_64": ("darwin", "libws.dylib"),
    "win_amd64": ("win32", "libws.dll"),
}


def _backend():
    spec = importlib.util.spec_from_file_location("libws_build", os.path.join(PKG_ROOT, "_backend", "libws_build.py"))
    backend = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backend)
    return backend


@pytest.fixture
def package_dir(tmp_path, monkeypatch):
    """A package directory holding every platform's library file; no
    $LIBWS_LIBRARY, nothing on the system library path."""
    for name in set(LOADER.values()):
        (tmp_path / name).write_bytes(b"not a library")
    monkeypatch.setattr(_ffi, "_PKG_DIR", str(tmp_path))
    monkeypatch.delenv(_ffi.ENV_VAR, raising=False)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    return tmp_path


@pytest.mark.parametrize("platform,name", sorted(LOADER.items()))
def test_loader_opens_the_platforms_file(package_dir, monkeypatch, platform, name):
    monkeypatch.setattr(sys, "platform", platform)
    assert _ffi.lib_name() == name
    candidates = _ffi._candidates()
    assert candidates[0][1] == str(package_dir / name)
    # Not found anywhere else: the system search asks for the same name.
    assert candidates[-1][1] == name
    assert [c[1] for c in candidates].count(None) == 1  # $LIBWS_LIBRARY unset


@pytest.mark.parametrize("platform,name", sorted(LOADER.items()))
def test_loader_ignores_other_platforms_files(package_dir, monkeypatch, platform, name):
    (package_dir / name).unlink()
    monkeypatch.setattr(sys, "platform", platform)
    what, path = _ffi._candidates()[0]
    assert path is None
    assert name in what


def test_loader_name_defaults_to_this_platform():
    assert _ffi.LIB_NAME == _ffi.lib_name(sys.platform) == os.path.basename(libws.library_path)


@pytest.mark.parametrize("tag,want", sorted(WHEELS.items()))
def test_wheel_ships_what_the_loader_opens(tag, want):
    platform, name = want
    assert _backend().lib_name_for_tag(tag) == name == _ffi.lib_name(platform)


def _record_ok(zf: zipfile.ZipFile, dist_info: str) -> None:
    rows = zf.read(f"{dist_info}/RECORD").decode().splitlines()
    listed = {r.split(",")[0] for r in rows}
    assert listed == set(zf.namelist())
    for row in rows:
        arcname, digest, size = row.split(",")
        if arcname.endswith("/RECORD"):
            continue
        data = zf.read(arcname)
        want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert (digest, int(size)) == (want, len(data)), arcname


@pytest.mark.parametrize("tag", ["macosx_12_0_arm64", "macosx_12_0_x86_64", "win_amd64"])
def test_wheel_for_another_platform(tmp_path, tag):
    backend = _backend()
    name = backend.lib_name_for_tag(tag)
    lib = tmp_path / "lib" / name
    lib.parent.mkdir()
    lib.write_bytes(b"the " + tag.encode() + b" library")
    out = tmp_path / "out"
    out.mkdir()
    wheel = backend.build_wheel(str(out), {"platform": tag, "library": str(lib)})
    version = libws.__version__
    assert wheel == f"libws-{version}-py3-none-{tag}.whl"
    dist_info = f"libws-{version}.dist-info"
    with zipfile.ZipFile(out / wheel) as zf:
        names = set(zf.namelist())
        assert f"libws/{name}" in names
        assert zf.read(f"libws/{name}") == lib.read_bytes()
        # The same Python package, and no other platform's library.
        py = {n for n in os.listdir(os.path.join(PKG_ROOT, "libws")) if n.endswith(".py") or n == "py.typed"}
        assert {n.split("/", 1)[1] for n in names if n.startswith("libws/")} == py | {name}
        assert f"Tag: py3-none-{tag}" in zf.read(f"{dist_info}/WHEEL").decode().splitlines()
        _record_ok(zf, dist_info)


@pytest.mark.parametrize(
    "settings,error",
    [
        ({"platform": "win_amd64", "library": "libws.so"}, "ships libws.dll"),
        ({"platform": "macosx_12_0_arm64", "library": "libws.dll"}, "ships libws.dylib"),
        ({"platform": "win_amd64"}, "go together"),
        ({"library": "libws.dll"}, "go together"),
        ({"platform": "win amd64", "library": "libws.dll"}, "not a wheel platform tag"),
        ({"platform": "win_amd64", "library": "/nonexistent/libws.dll"}, "does not exist"),
    ],
)
def test_wheel_for_another_platform_bad_settings(tmp_path, settings, error):
    with pytest.raises(RuntimeError, match=error):
        _backend().build_wheel(str(tmp_path), settings)
    assert os.listdir(tmp_path) == []
