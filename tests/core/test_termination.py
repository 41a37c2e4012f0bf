"""SIGTERM and SIGHUP during a run: Terminated in the main thread, temporaries removed, then
the signal delivered again so the process ends as it was asked to."""

import signal
import subprocess
import sys
import threading

import pytest

from landlearn.core.termination import Terminated, terminable, termination_guard
from paths import ROOT

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")


# os.replace that sends this process SIGTERM right after its first rename (the old output
# set aside) and says the renames go on; they must, until the output is whole
SIGTERM_AT_FIRST_RENAME = """
real = os.replace
calls = []
def replace(src, dst):
    real(src, dst)
    calls.append(dst)
    if len(calls) == 1:
        os.kill(os.getpid(), signal.SIGTERM)
        print("renames go on", flush=True)
os.replace = replace
"""


def _run(body: str) -> subprocess.CompletedProcess:
    script = f"""
import os, signal, sys
signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as in a terminal, whatever started pytest
sys.path.insert(0, {str(ROOT / 'tests')!r})
from paths import ensure_importable
ensure_importable()
from landlearn.core import files
from landlearn.core.termination import Terminated, termination_guard
{body}
"""
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_ends_the_process_after_the_temporaries_are_gone(tmp_path, signum):
    result = _run(f"""
tmp = files.temporary_sibling({str(tmp_path / 'out.tif')!r}, ".tif")
open(tmp, "w").write("half")
print(tmp, flush=True)
with termination_guard():
    try:
        os.kill(os.getpid(), {int(signum)})
        print("not reached", flush=True)
    except Terminated as exc:  # raised here, in the run, for the with blocks to unwind
        print("Terminated", exc.signum, exc, flush=True)
        raise
print("survived", flush=True)
""")
    lines = result.stdout.splitlines()
    # the process still dies of the signal (a killed job reports it), after cleaning up
    assert result.returncode == -signum, (result.stdout, result.stderr)
    assert lines[1] == f"Terminated {int(signum)} stopped by {signal.Signals(signum).name}; " \
        "temporary files removed"
    assert "not reached" not in lines and "survived" not in lines
    assert lines[0].startswith(str(tmp_path / ".out.tif.")) and list(tmp_path.iterdir()) == []


def test_the_previous_handler_is_restored_and_gets_the_signal(tmp_path):
    result = _run("""
got = []
signal.signal(signal.SIGTERM, lambda s, f: got.append(s))
try:
    with termination_guard():
        with termination_guard():  # nested: the outer guard keeps the signals
            os.kill(os.getpid(), signal.SIGTERM)
except Terminated:
    print("Terminated", flush=True)
print("handler got", got, flush=True)
with termination_guard():
    pass
os.kill(os.getpid(), signal.SIGTERM)  # outside a run: the user's handler, no exception
print("handler got", got, signal.getsignal(signal.SIGHUP) is signal.SIG_DFL, flush=True)
""")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Terminated", "handler got [15]",
                                          "handler got [15, 15] True"]


def test_an_ignored_signal_stays_ignored_during_a_run(tmp_path):
    """Under nohup SIGHUP is ignored: a run must go on when the terminal closes."""
    result = _run("""
signal.signal(signal.SIGHUP, signal.SIG_IGN)
with termination_guard():
    inside = signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    os.kill(os.getpid(), signal.SIGHUP)
    print("still running", inside, flush=True)
print("after", signal.getsignal(signal.SIGHUP) is signal.SIG_IGN, flush=True)
""")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["still running True", "after True"]


def test_outside_the_main_thread_the_guard_changes_nothing():
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def worker():
        with termination_guard():
            seen.append(signal.getsignal(signal.SIGTERM))

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [before]
    with termination_guard():  # in the main thread it does install its handler
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_terminable_keeps_the_function_and_its_result():
    @terminable
    def entry(a, b=2):
        """An engine entry point."""
        return a + b, signal.getsignal(signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    total, during = entry(1, b=5)
    assert total == 6 and during is not before
    assert entry.__name__ == "entry" and entry.__doc__ == "An engine entry point."
    assert signal.getsignal(signal.SIGTERM) is before
    assert issubclass(Terminated, BaseException) and not issubclass(Terminated, Exception)


def test_a_signal_during_an_outputs_renames_waits_for_them(tmp_path):
    """A SIGTERM between a folder output's two renames stranded the previous folder under a
    hidden '.old' name and left the output name empty. Inside the renames the signal waits;
    the run stops right after them, the new folder in place and the old one gone."""
    out = tmp_path / "out"
    (out).mkdir()
    (out / "old.txt").write_text("previous run")
    result = _run(f"""
from landlearn.core.staged_folder import StagedFolder
{SIGTERM_AT_FIRST_RENAME}
with termination_guard():
    folder = StagedFolder({str(out)!r}, "output_folder", replace=True,
                          legacy=lambda f: {{"old.txt"}})
    open(os.path.join(folder.staging, "new.txt"), "w").write("this run")
    try:
        folder.publish()
        print("not reached", flush=True)
    except Terminated:
        print("Terminated after", len(calls), "renames", flush=True)
        raise
""")
    assert result.returncode == -signal.SIGTERM, (result.stdout, result.stderr)
    assert result.stdout.splitlines() == ["renames go on", "Terminated after 2 renames"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (out / "new.txt").read_text() == "this run" and not (out / "old.txt").exists()


def test_a_signal_while_outputs_are_replaced_leaves_no_hidden_old_copies(tmp_path):
    """commit_together sets the previous map and its sidecars aside under hidden '.old'
    names, publishes the new ones, then removes the old copies. A SIGTERM in the renames
    waits for them and stops the run right after: the old copies went with the clean-up
    (they were left hidden for good, full size, beside every replaced output)."""
    result = _run(f"""
import numpy as np, rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window
from landlearn.core.geo.grid import Grid
from landlearn.core.geo import commit, writer as w
grid = Grid(rasterio.crs.CRS.from_epsg(32633), from_origin(500000, 5000000, 10, 10), 60, 30)
path = {str(tmp_path / "map.tif")!r}

def run():
    out = w.GeoTiffWriter(path, grid, 1, np.uint8, nodata=0, parameter="output")
    out.write(np.ones((30, 60), np.uint8), Window(0, 0, 60, 30))
    commit.commit_together([out])

run()
{SIGTERM_AT_FIRST_RENAME}
with termination_guard():
    try:
        run()
        print("not reached", flush=True)
    except Terminated:
        print("Terminated", flush=True)
        raise
""")
    assert result.returncode == -signal.SIGTERM, (result.stdout, result.stderr)
    assert result.stdout.splitlines() == ["renames go on", "Terminated"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert [n for n in left if n.startswith(".")] == [], left
    assert "map.tif" in left


def test_ctrl_c_waits_for_the_renames_and_cleans_up_then_interrupts(tmp_path):
    """Ctrl-C in a terminal running a script or qgis_process: KeyboardInterrupt skipped
    the renames' deferral and the temporaries' clean-up. With Python's own SIGINT handler
    in place it is a Terminated like SIGTERM, and ends as a KeyboardInterrupt (Python then
    dies of SIGINT, as after any Ctrl-C) once the temporaries are gone."""
    result = _run(f"""
tmp = files.temporary_sibling({str(tmp_path / 'out.tif')!r}, ".tif")
open(tmp, "w").write("half")
signal.signal(signal.SIGINT, signal.default_int_handler)
with termination_guard():
    try:
        os.kill(os.getpid(), signal.SIGINT)
        print("not reached", flush=True)
    except Terminated as exc:
        print("Terminated", exc, flush=True)
        raise
""")
    assert result.returncode == -signal.SIGINT, (result.stdout, result.stderr)
    assert result.stdout.splitlines() == ["Terminated stopped by SIGINT; temporary files removed"]
    assert "KeyboardInterrupt" in result.stderr
    assert list(tmp_path.iterdir()) == []
