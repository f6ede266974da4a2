"""What cannot be opened as the cache file is a clear CacheError (exit 69), read-only
as well as read-write (issue 11, point 7): ``--offline`` used to end in a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from btconsole.cache import Cache, CacheError
from btconsole.errors import EXIT_UNAVAILABLE


@pytest.mark.parametrize("readonly", [True, False])
def test_a_directory_in_the_files_place(tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "cache.sqlite3"
    path.mkdir()
    with pytest.raises(CacheError) as caught:
        Cache.open(path, readonly=readonly)
    assert caught.value.exit_code == EXIT_UNAVAILABLE
    assert str(caught.value).startswith(f"cannot open the cache {path}: ")
    assert "\n" not in str(caught.value)
    assert path.is_dir() and list(path.parent.iterdir()) != []  # nothing set aside or removed


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
@pytest.mark.parametrize("readonly", [True, False])
def test_an_unreadable_file(tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "cache.sqlite3"
    Cache.open(path).close()
    path.chmod(0)
    with pytest.raises(CacheError) as caught:
        Cache.open(path, readonly=readonly)
    assert caught.value.exit_code == EXIT_UNAVAILABLE
