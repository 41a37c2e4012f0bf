"""core.staged_folder: output folders published whole, and the marker that says which files
LandLearn wrote (OVERWRITE replaces only those, unedited)."""

import json
import os

import pytest

from landlearn.core import files, staged_folder
from landlearn.core.errors import InputError
from landlearn.core.files import MARKER
from landlearn.core.staged_folder import StagedFolder, foreign_files, listed_files


def _hidden(folder):
    return sorted(p for p in os.listdir(folder) if p.startswith("."))


def _fill(staged, names):
    for name in names:
        path = os.path.join(staged.staging, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(name)


def test_staged_folder_publishes_whole_with_a_marker(tmp_path):
    out = tmp_path / "chips"
    with StagedFolder(str(out), "output_folder", algorithm="exporttrainingdata") as staged:
        assert os.path.basename(staged.staging).startswith(".chips.")
        _fill(staged, ["map.txt", "images/000000000.tif"])
        assert not out.exists()  # nothing at the destination until the block ends
    assert staged.path == str(out) and not os.path.exists(staged.staging)
    marker = json.loads((out / MARKER).read_text())
    stats = {name: [os.stat(out / name).st_size, os.stat(out / name).st_mtime_ns]
             for name in ("images/000000000.tif", "map.txt")}
    assert marker == {"generator": "LandLearn", "algorithm": "exporttrainingdata",
                      "files": ["images/000000000.tif", "map.txt"], "stats": stats}
    assert listed_files(str(out)) == {"images/000000000.tif", "map.txt"}
    assert _hidden(tmp_path) == []


def test_staged_folder_publishes_nothing_on_error_and_keeps_the_old_folder(tmp_path):
    out = tmp_path / "chips"
    with pytest.raises(RuntimeError, match="half way"):
        with StagedFolder(str(out), "output_folder") as staged:
            _fill(staged, ["a.tif"])
            raise RuntimeError("half way")
    assert not out.exists() and _hidden(tmp_path) == []
    with StagedFolder(str(out), "output_folder") as staged:
        _fill(staged, ["first.tif"])
    with pytest.raises(KeyboardInterrupt):
        with StagedFolder(str(out), "output_folder", replace=True) as staged:
            _fill(staged, ["second.tif"])
            raise KeyboardInterrupt
    assert sorted(os.listdir(out)) == ["first.tif", MARKER] and _hidden(tmp_path) == []
    # and replaced whole when the run completes
    with StagedFolder(str(out), "output_folder", replace=True) as staged:
        _fill(staged, ["second.tif"])
    assert sorted(os.listdir(out)) == [MARKER, "second.tif"] and _hidden(tmp_path) == []


def test_staged_folder_keeps_the_old_folder_when_terminated_between_its_renames(
        tmp_path, monkeypatch):
    """A termination signal landing after the old output moved aside and before the new
    one took its place: the old output goes back, and the termination's clean-up of
    temporaries does not remove it."""
    from landlearn.core import files
    from landlearn.core.termination import Terminated
    out = tmp_path / "chips"
    with StagedFolder(str(out), "output_folder") as staged:
        _fill(staged, ["first.tif"])
    real = os.replace
    calls = []

    def replace(src, dst):
        calls.append((src, dst))
        if src.endswith(".part") and dst == str(out):  # the new folder's rename
            raise Terminated(15)
        return real(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(Terminated):
        with StagedFolder(str(out), "output_folder", replace=True) as staged:
            _fill(staged, ["second.tif"])
    files.remove_temporaries()  # as termination_guard does before the process ends
    assert len(calls) == 3  # aside, the failed rename, back
    assert sorted(os.listdir(out)) == ["first.tif", MARKER] and _hidden(tmp_path) == []


def test_staged_folder_refuses_foreign_folders_before_doing_anything(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.docx").write_text("years of work")
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: the folder .* is not empty; .*OVERWRITE"):
        StagedFolder(str(theirs), "output_folder")
    with pytest.raises(InputError, match=f"^OUTPUT_FOLDER: .*thesis.docx.*{MARKER} is missing"):
        StagedFolder(str(theirs), "output_folder", replace=True)
    # a LandLearn folder into which someone put a file of their own
    ours = tmp_path / "ours"
    with StagedFolder(str(ours), "output_folder") as staged:
        _fill(staged, ["map.txt"])
    (ours / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"holds 1 file\(s\) that LandLearn did not write \(notes.txt\)"):
        StagedFolder(str(ours), "output_folder", replace=True, what="training data folder")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: .* is a file; choose a folder"):
        StagedFolder(str(tmp_path / "afile"), "output_folder")
    assert (theirs / "thesis.docx").read_text() == "years of work"
    assert (ours / "notes.txt").read_text() == "mine"
    assert _hidden(tmp_path) == []


def test_overwrite_replaces_only_what_the_same_algorithm_wrote(tmp_path):
    """An export's OVERWRITE replaced a classified collection's folder (any LandLearn
    marker passed); the marker's algorithm must be the one replacing it."""
    out = tmp_path / "out"
    with StagedFolder(str(out), "output_folder", algorithm="classifyrastercollection") as f:
        open(os.path.join(f.staging, "a_classified.tif"), "w").close()
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: the folder .* holds the results of "
                       "LandLearn's classifyrastercollection, not an earlier training data "
                       "folder; it is not replaced even with OVERWRITE"):
        StagedFolder(str(out), "output_folder", replace=True, what="training data folder",
                     algorithm="exporttrainingdata")
    assert sorted(os.listdir(out)) == sorted([MARKER, "a_classified.tif"])
    again = StagedFolder(str(out), "output_folder", replace=True,
                         algorithm="classifyrastercollection")
    again.publish()
    assert os.listdir(out) == [MARKER]


def test_staged_folder_checks_again_before_replacing(tmp_path):
    """Files that appear in the destination during the run stop the publication."""
    out = tmp_path / "out"
    with StagedFolder(str(out), "output_folder") as staged:
        _fill(staged, ["a.tif"])
    with pytest.raises(InputError, match="did not write \\(late.txt\\)"):
        with StagedFolder(str(out), "output_folder", replace=True) as staged:
            _fill(staged, ["b.tif"])
            (out / "late.txt").write_text("arrived meanwhile")
    assert sorted(os.listdir(out)) == ["a.tif", "landlearn_files.json", "late.txt"]
    assert _hidden(tmp_path) == []


def test_foreign_files_with_and_without_a_marker(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.tif").write_text("x")
    (folder / "a.tif.aux.xml").write_text("gdal's")  # a sidecar GDAL adds to a listed file
    (folder / "b.txt").write_text("someone's")
    assert foreign_files(str(folder)) is None  # no marker: not a LandLearn folder at all
    assert foreign_files(str(folder), legacy=lambda f: {"a.tif"}) == ["b.txt"]
    assert foreign_files(str(folder), legacy=lambda f: None) is None
    (folder / MARKER).write_text(json.dumps({"generator": "LandLearn", "files": ["a.tif"]}))
    assert foreign_files(str(folder)) == ["b.txt"]
    (folder / "b.txt").unlink()
    assert foreign_files(str(folder)) == []
    os.symlink(tmp_path, folder / "link")  # a link to a folder counts as a file, not walked
    assert foreign_files(str(folder)) == ["link"]
    for bad in ({"generator": "Someone", "files": ["a.tif"]}, {"generator": "LandLearn"},
                {"generator": "LandLearn", "files": [1]}, []):
        (folder / MARKER).write_text(json.dumps(bad))
        assert foreign_files(str(folder)) is None, bad
    (folder / MARKER).write_text("{not json")
    assert listed_files(str(folder)) is None


def test_a_staged_folder_given_as_a_link_publishes_into_the_folder_it_leads_to(tmp_path):
    """OUTPUT_FOLDER 'chips' linked to /scratch/chips (empty): the checks passed, then the
    rename onto the link failed at the very end and the whole export was discarded. The
    link stays; the chips land where it leads, and again with OVERWRITE."""
    target = tmp_path / "scratch" / "chips"
    target.mkdir(parents=True)
    link = tmp_path / "chips"
    link.symlink_to(target)
    for replace in (False, True):
        given = str(link) + ("/" if replace else "")  # 'chips/' is the link too
        with StagedFolder(given, "output_folder", replace=replace,
                          algorithm="exporttrainingdata") as staged:
            with open(os.path.join(staged.staging, "a.txt"), "w") as fh:
                fh.write(str(replace))
        assert link.is_symlink() and (target / "a.txt").read_text() == str(replace)
    assert sorted(os.listdir(tmp_path / "scratch")) == ["chips"]


def test_a_file_edited_after_the_run_is_not_replaced_with_overwrite(tmp_path):
    """A label chip corrected by hand after the export: the marker still lists it, but its
    size or time is no longer what LandLearn wrote, so OVERWRITE refuses (a marker of an
    older LandLearn, without stats, is taken at its word)."""
    out = tmp_path / "chips"
    with StagedFolder(str(out), "output_folder") as staged:
        _fill(staged, ["map.txt", "labels/000000000.tif", "maps/a.tif.aux.xml", "maps/a.qml",
                       "mosaic.vrt", "maps/other.vrt"])
    # what QGIS rewrites itself (GDAL's statistics, a style saved as default) is no edit;
    # GDAL keeps a VRT's statistics inside it (gdalinfo -hist on mosaic.vrt)
    (out / "maps" / "a.tif.aux.xml").write_text("<PAMDataset>statistics</PAMDataset>")
    (out / "maps" / "a.qml").write_text("restyled")
    (out / "mosaic.vrt").write_text("<VRTDataset><Metadata>STATISTICS_MEAN</Metadata>")
    assert staged_folder.changed_files(str(out)) == []
    (out / "maps" / "other.vrt").write_text("<VRTDataset>edited by hand</VRTDataset>")
    assert staged_folder.changed_files(str(out)) == ["maps/other.vrt"]
    (out / "maps" / "other.vrt").unlink()
    chip = out / "labels" / "000000000.tif"
    before = chip.stat()
    chip.write_text("corrected")
    with pytest.raises(InputError, match=r"^OUTPUT_FOLDER: the folder .* holds 1 file\(s\) "
                       r"changed or copied since LandLearn wrote them \(labels/000000000.tif\)"):
        StagedFolder(str(out), "output_folder", replace=True)
    assert chip.read_text() == "corrected"
    os.utime(chip, ns=(before.st_atime_ns, before.st_mtime_ns + 1))  # same size, other time
    chip.write_text("x" * before.st_size)
    assert staged_folder.changed_files(str(out)) == ["labels/000000000.tif"]
    marker = json.loads((out / MARKER).read_text())
    del marker["stats"]
    (out / MARKER).write_text(json.dumps(marker))
    with StagedFolder(str(out), "output_folder", replace=True) as staged:
        _fill(staged, ["map.txt"])
    assert sorted(os.listdir(out)) == [MARKER, "map.txt"]


def test_a_folder_that_cannot_be_replaced_at_the_end_keeps_the_finished_work(tmp_path,
                                                                            monkeypatch):
    """The old folder could not be moved at publish (open in QGIS on Windows; or a file of
    the user's appeared in it during the run): the new folder is kept whole beside it,
    and the error says where, instead of deleting hours of work with the staging."""
    out = tmp_path / "chips"
    with StagedFolder(str(out), "output_folder") as staged:
        _fill(staged, ["old.tif"])
    real_replace = os.replace

    def locked(src, dst):
        if os.path.abspath(src) == str(out):
            raise PermissionError(13, "The process cannot access the file", str(src))
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", locked)
    with pytest.raises(InputError, match=r"^OUTPUT_FOLDER: the finished output could not "
                       r"replace .* \(PermissionError: .*\); it is kept whole in '.*chips\.new'"):
        with StagedFolder(str(out), "output_folder", replace=True) as staged:
            _fill(staged, ["new.tif"])
    monkeypatch.undo()
    assert sorted(os.listdir(out)) == [MARKER, "old.tif"]
    assert sorted(os.listdir(tmp_path / "chips.new")) == [MARKER, "new.tif"]
    assert _hidden(tmp_path) == []
    with pytest.raises(InputError, match=r"holds 1 file\(s\) that LandLearn did not write "
                       r"\(mine.txt\).*; it is kept whole in '.*chips\.new2'"):
        with StagedFolder(str(out), "output_folder", replace=True) as staged:
            _fill(staged, ["newer.tif"])
            (out / "mine.txt").write_text("appeared during the run")
    assert sorted(os.listdir(tmp_path / "chips.new2")) == [MARKER, "newer.tif"]


def test_a_finished_folder_that_cannot_even_be_moved_aside_is_kept_where_it_is(tmp_path,
                                                                              monkeypatch):
    """Neither the old folder nor the staging folder can be renamed (an antivirus holding a
    new file, on Windows): the staging folder stays, named in the error, not deleted."""
    out = tmp_path / "chips"
    with StagedFolder(str(out), "output_folder") as staged:
        _fill(staged, ["old.tif"])
    real_replace = os.replace

    def locked(src, dst):
        if os.path.abspath(src) == str(out) or ".part" in os.path.basename(src):
            raise PermissionError(13, "The process cannot access the file", str(src))
        return real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", locked)
    with pytest.raises(InputError, match=r"it is kept whole in '.*\.chips\.[0-9a-f]{8}\.[^/]*-\d+\.part'"):
        with StagedFolder(str(out), "output_folder", replace=True) as staged:
            _fill(staged, ["new.tif"])
    monkeypatch.undo()
    assert sorted(os.listdir(staged.staging)) == [MARKER, "new.tif"]


def test_a_killed_runs_staged_folder_is_swept_and_a_live_ones_stays(tmp_path):
    """Without RESUME nothing removed what a killed run staged: an each_item run killed at
    its second item kept its finished maps hidden beside OUTPUT_FOLDER for good (a
    qgis_process sweep, stop 68). The staged folder's name holds the host and process;
    the next run removes a dead process's, never a live one's, another host's, or a
    set-aside copy. (An mtime rule, tried first, deleted live runs' files: review, stop 68.)"""
    import subprocess
    import sys

    from landlearn.core.scratch import host_name
    from landlearn.core.staged_folder import sweep_dead_staging

    if sys.platform == "win32":
        pytest.skip("a process cannot be asked whether it lives on Windows")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    host = host_name()
    names = {"dead": f".maps.0123abcd.{host}-{dead}.part",
             "live": f".maps.89abcdef.{host}-{os.getppid()}.part",
             "other host": f".maps.0123abcd.elsewhere-{dead}.part",
             "set aside": ".maps.0123abcd.part.old",
             "another output": f".chips.0123abcd.{host}-{dead}.part"}
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "a_classified.tif").write_bytes(b"x")
    assert sweep_dead_staging(str(tmp_path / "maps")) == [str(tmp_path / names["dead"])]
    assert sorted(os.listdir(tmp_path)) == sorted(v for k, v in names.items() if k != "dead")
    (tmp_path / names["dead"]).mkdir()
    with StagedFolder(str(tmp_path / "maps"), "output_folder") as folder:
        assert not (tmp_path / names["dead"]).exists()
        assert os.path.basename(folder.staging).endswith(f".{host}-{os.getpid()}.part")
    assert os.listdir(tmp_path / "maps") == ["landlearn_files.json"]
