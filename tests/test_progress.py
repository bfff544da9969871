"""Long work shows progress: in place on a terminal, as a plain line every 30 s in a log."""

from simmodel.runs import progress


def test_in_a_log_short_work_is_silent_and_long_work_reports_every_30_seconds(monkeypatch, capsys):
    clock = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    bar = progress.ProgressLine("calibration")  # capsys: stderr is not a terminal
    for done, t in ((10, 5.0), (20, 29.0)):
        clock[0] = 1000.0 + t
        bar.update(done, 100)
    assert capsys.readouterr().err == ""  # under 30 s: nothing
    clock[0] = 1031.0
    bar.update(40, 100, "wave 1")
    clock[0] = 1040.0
    bar.update(50, 100)  # 9 s later: not yet
    bar.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "calibration: 40/100 (40 %) after 31s" in err and "wave 1" in err


def test_the_time_left_counts_only_this_processs_work(monkeypatch, capsys):
    """A resumed calibration starts with most runs stored: they took no time here."""
    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    bar = progress.ProgressLine("runs")
    clock[0] = 1.0
    bar.update(900, 1000)  # 900 stored runs, found in a second
    clock[0] = 41.0
    bar.update(940, 1000)  # then 1 run a second: 60 runs left
    assert "60s left" in capsys.readouterr().err


def test_quiet_prints_nothing(monkeypatch, capsys):
    monkeypatch.setattr(progress.time, "monotonic", lambda: 5000.0)
    bar = progress.ProgressLine("x", enabled=False)
    bar.update(1, 2)
    bar.close()
    assert capsys.readouterr().err == ""
