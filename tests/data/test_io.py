import os
import stat

import pytest

from mmcl.data.io import atomic_file, atomic_folder


@pytest.fixture
def umask():
    def set_mask(mask):
        os.umask(mask)

    old = os.umask(0o022)
    yield set_mask
    os.umask(old)


@pytest.mark.parametrize(
    ("mask", "folder_mode", "file_mode"), [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)]
)
def test_written_files_and_folders_follow_the_umask(tmp_path, umask, mask, folder_mode, file_mode):
    umask(mask)
    with atomic_folder(tmp_path / "out") as tmp:
        (tmp / "a.txt").write_text("x")
    with atomic_file(tmp_path / "f.json") as f:
        f.write("{}")
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == folder_mode
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == file_mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.json", "out"]  # no temporaries


def test_a_failed_write_leaves_the_old_content(tmp_path):
    with atomic_file(tmp_path / "f.txt") as f:
        f.write("old")
    with pytest.raises(RuntimeError), atomic_file(tmp_path / "f.txt") as f:
        f.write("half")
        raise RuntimeError("killed")
    assert (tmp_path / "f.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
