"""Results on disk (simmodel/runs/store.py): a reader sees the old file or the new one, never half of one, and an
interrupted write leaves nothing that a rerun would trip over."""

import os
import signal
import subprocess
import sys
import time

import pytest

from simmodel.runs import store


def test_a_result_file_is_the_old_one_or_the_new_one_never_half(tmp_path):
    path = tmp_path / "table.csv"
    store.write_text(path, "old\n")
    with pytest.raises(RuntimeError, match="disk full"):
        with store.atomic_open(path) as fh:
            fh.write("new,half a row")
            fh.flush()
            assert path.read_text() == "old\n"  # a reader during the write sees the old file whole
            raise RuntimeError("disk full")
    assert path.read_text() == "old\n"  # a failed write leaves the old file as it was
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]  # and nothing beside it
    store.write_text(path, "new\n")
    assert path.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]


KILLED_WRITE = """
import sys
from pathlib import Path
from simmodel.runs import store
store.write_text(Path(sys.argv[1]) / "table.csv", "a,b\\n" * 1000)
"""


def test_a_write_killed_before_its_rename_leaves_only_what_clean_partial_removes(tmp_path):
    """SIGKILL while a result file is being put in place (the test hook holds the write open 30 s): no table.csv, and
    the temporary file it leaves is what clean_partial, which every resume calls first, removes."""
    env = {**os.environ, "SIMMODEL_TEST_SLOW_WRITES": "30:table.csv"}
    p = subprocess.Popen([sys.executable, "-c", KILLED_WRITE, str(tmp_path)], env=env)
    deadline = time.monotonic() + 60
    while not any(tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    left = [q.name for q in tmp_path.iterdir()]
    assert len(left) == 1 and left[0] != "table.csv", left  # the temporary file, not a result
    store.clean_partial(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_run_s_tables_list_the_seeds_in_numeric_order(tmp_path):
    """Eleven seeds: yearly.csv holds seed 2's rows before seed 10's (the file is sorted so that any executor gives
    the same bytes; sorted as text, 10 and 11 would come between 1 and 2)."""
    import pandas as pd

    from simmodel.cli import main

    out = tmp_path / "r"
    assert main(["run", "--seeds", "11", "--scale", "0.002", "--end", "2013-02", "--workers", "1", "--out", str(out),
                 "--quiet"]) == 0
    seeds = pd.read_csv(out / "yearly.csv").seed.to_numpy()
    assert sorted(set(seeds)) == list(range(1, 12)) and list(seeds) == sorted(seeds)
