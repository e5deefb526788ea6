"""The registry archive is unpacked only within its folder, on every Python 3.11."""

from __future__ import annotations

import contextlib
import io
import tarfile
from pathlib import Path

import pytest

from fraudstream.devstack import install
from fraudstream.devstack.install import InstallError, extract_safely


def _archive(path: Path, *members: tuple[str, bytes | str]) -> Path:
    """A tar.gz of (name, content) files, or (name, "->target") symbolic links."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content.removeprefix("->")
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture(params=["data filter", "checked by hand"])
def python(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways: with the standard library's filter (3.11.4+) and without (Debian's 3.11.2)."""
    if request.param == "checked by hand":
        monkeypatch.delattr(tarfile, "data_filter")
    return str(request.param)


def test_an_ordinary_archive_is_unpacked(tmp_path: Path, python: str) -> None:
    archive = _archive(tmp_path / "a.tar.gz", ("app/lib/x.jar", b"jar"), ("app/x", "->lib/x.jar"))
    extract_safely(archive, tmp_path / "out")
    assert (tmp_path / "out" / "app" / "x").read_bytes() == b"jar"


@pytest.mark.parametrize("member", [("../escaped", b"x"), ("app/link", "->../../outside")])
def test_a_member_outside_the_folder_is_refused(
    tmp_path: Path, python: str, member: tuple[str, bytes | str]
) -> None:
    archive = _archive(tmp_path / "a.tar.gz", member)
    with pytest.raises((InstallError, tarfile.FilterError)):
        extract_safely(archive, tmp_path / "out")
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "outside").exists()


def test_an_absolute_member_never_lands_at_its_path(tmp_path: Path, python: str) -> None:
    """The filter moves it inside, the check by hand refuses it: either way, not there."""
    absolute = tmp_path / "absolute"
    archive = _archive(tmp_path / "a.tar.gz", (str(absolute), b"x"))
    with contextlib.suppress(InstallError):
        extract_safely(archive, tmp_path / "out")
    assert not absolute.exists()


def test_go_is_found_where_its_installer_puts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """go.dev's tarball in /usr/local/go, not on the PATH of a non-login shell."""
    go = tmp_path / "go" / "bin" / "go"
    go.parent.mkdir(parents=True)
    go.write_text("#!/bin/sh\n")
    go.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setitem(install.USUAL_PLACES, "go", go)
    assert install.require_tool("go", "Go") == str(go)
    with pytest.raises(InstallError, match="'mvn' not found: install Maven"):
        install.require_tool("mvn", "Maven")
