"""core.scratch: scratch folders beside an output, swept once the process that made them is
gone (a SIGKILL runs no clean-up), never while it lives."""

import os
import signal
import subprocess
import sys

import pytest

from landlearn.core.scratch import scratch_folder, sweep_dead_scratch
from paths import ROOT

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process ids")


def _killed_holding_one(folder) -> str:
    """A process that makes a 'segment' scratch folder in ``folder``, then is SIGKILLed."""
    script = f"""
import sys, time
sys.path.insert(0, {str(ROOT / 'tests')!r})
from paths import ensure_importable
ensure_importable()
from landlearn.core.scratch import scratch_folder
held = scratch_folder("segment", {str(folder)!r})
open(held.name + "/labels.tif", "wb").write(b"x" * 1000)
print(held.name, flush=True)
time.sleep(60)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    made = proc.stdout.readline().strip()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    return made


def test_a_killed_runs_scratch_is_swept_and_a_live_ones_kept(tmp_path):
    left = _killed_holding_one(tmp_path)
    assert os.path.isdir(left) and os.path.basename(left).startswith(".segment-")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # a folder of a live process of this host (another QGIS running Segment)
        live = os.path.basename(left).split("-")
        live[-2] = str(sleeper.pid)
        live_path = tmp_path / "-".join(live)
        live_path.mkdir()
        (tmp_path / ".segment-elsewhere").mkdir()  # not a name LandLearn gives: left
        (tmp_path / "notes").mkdir()
        with scratch_folder("segment", str(tmp_path)) as mine:
            assert not os.path.exists(left)  # swept when the next run started
            assert live_path.is_dir() and os.path.isdir(mine)
            assert sweep_dead_scratch("segment", str(tmp_path)) == []  # its own: kept
        assert not os.path.exists(mine)
        assert sorted(os.listdir(tmp_path)) == sorted([live_path.name, ".segment-elsewhere",
                                                       "notes"])
        assert sweep_dead_scratch("refine", str(tmp_path)) == []  # another kind's name
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sweep_dead_scratch("segment", str(tmp_path)) == [str(live_path)]
