import os
import stat

import pytest

from mmcl.data.io import LOCK, atomic_file, atomic_folder, folder_lock
from mmcl.errors import UserError


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


def _lock_of(folder, pid):
    import json
    import socket

    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK).write_text(
        json.dumps({"pid": pid, "host": socket.gethostname(), "started": "t"})
    )


def test_a_folder_in_use_is_refused_naming_its_owner(tmp_path):
    import subprocess
    import sys

    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _lock_of(tmp_path / "runs", owner.pid)
        with (
            pytest.raises(UserError, match=f"in use by process {owner.pid}"),
            folder_lock(tmp_path / "runs"),
        ):
            pass
        assert (tmp_path / "runs" / LOCK).is_file()  # the owner's lock is left alone
    finally:
        owner.kill()
        owner.wait()


def test_a_stale_lock_is_taken_over_and_every_lock_is_released(tmp_path):
    import subprocess
    import sys

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    _lock_of(tmp_path / "runs", int(gone.stdout))
    with (
        pytest.warns(UserWarning, match="which is gone; taking it over"),
        folder_lock(tmp_path / "runs") as lock,
    ):
        assert f'"pid": {os.getpid()}' in lock.read_text()
    assert not (tmp_path / "runs" / LOCK).exists()
    with pytest.raises(RuntimeError), folder_lock(tmp_path / "runs"):
        raise RuntimeError("failed run")
    assert not (tmp_path / "runs" / LOCK).exists()


def test_a_dataset_folder_being_written_refuses_a_second_writer(tmp_path):
    from mmcl.data.native import write_native
    from mmcl.data.synthetic import SynthConfig, make_synthetic

    ds = make_synthetic(SynthConfig(n_train=4, n_valid=2, n_test=2, seq_len=2))
    _lock_of(tmp_path, os.getpid())  # this process: alive, as an import in progress would be
    (tmp_path / LOCK).rename(tmp_path / ".data.lock")  # the lock beside OUT = tmp_path/data
    with pytest.raises(UserError, match=f"data is in use by process {os.getpid()}"):
        write_native(ds, tmp_path / "data")
    assert not (tmp_path / "data").exists()
    (tmp_path / ".data.lock").unlink()
    write_native(ds, tmp_path / "data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no lock left behind
