import io

import pytest

from mmcl.progress import Progress, progress


def test_without_a_terminal_progress_is_plain_lines():
    log = io.StringIO()  # not a TTY, like a log file
    p = Progress(4, "text features", "batch", stream=log, every=0)
    for _ in range(4):
        p.update(1, "loss 0.5")
    p.close()
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("text features: 0/4 batch (0%)") and lines[0].endswith("started")
    assert "2/4 batch (50%), loss 0.5" in lines[2]
    assert lines[-1].startswith("text features: 4/4 batch (100%)") and lines[-1].endswith("done")


def test_lines_are_rate_limited():
    log = io.StringIO()
    p = Progress(1000, "step", stream=log, every=3600)
    for _ in range(1000):
        p.update()
    p.close()
    assert len(log.getvalue().splitlines()) == 2  # started and done only


def test_progress_iterates_every_item_and_can_be_silent(capsys):
    assert list(progress(range(3), 3, "x", show=False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    assert list(progress(range(3), 3, "x")) == [0, 1, 2]
    assert "x: 3/3 it (100%)" in capsys.readouterr().err


def test_a_loop_that_fails_says_stopped_not_done(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    with pytest.raises(ValueError):
        for i in progress(range(5), 5, "files"):
            if i == 2:
                raise ValueError("bad file")
    lines = log.getvalue().splitlines()
    assert lines[-1].startswith("files: 2/5 it (40%)") and lines[-1].endswith("stopped")


def test_a_bar_closed_after_its_stream_writes_nothing():
    log = io.StringIO()
    p = Progress(3, "x", stream=log)
    log.close()
    p.close(finished=False)  # no "I/O operation on closed file"
