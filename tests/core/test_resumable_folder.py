"""A folder a terminated run leaves for RESUME: taken up by its key only, never half-made,
kept when publishing fails, and removed when stale."""

import json
import os

import pytest

from landlearn.core.errors import InputError
from landlearn.core.files import MARKER
from landlearn.core.resumable_folder import RESUME_MANIFEST, ResumableFolder


class _Stop(BaseException):
    """Stands for a termination signal (core.termination.Terminated)."""


def _folder(out, key, resume=True):
    return ResumableFolder(str(out), "output_folder", key=key, resume=resume,
                           keep_on=lambda exc: isinstance(exc, _Stop), resume_only=("journal",),
                           replace=True)


def test_kept_on_termination_and_taken_up_by_its_key_only(tmp_path):
    out = tmp_path / "maps"
    fixed = tmp_path / ".maps.landlearn-resume"
    with pytest.raises(_Stop):
        with _folder(out, "k1") as staged:
            assert staged.staging == str(fixed) and not staged.resumed
            assert not staged.started_over  # nothing was there to discard
            (fixed / "a.tif").write_text("done")
            raise _Stop()
    assert sorted(os.listdir(fixed)) == ["a.tif", RESUME_MANIFEST]
    assert json.loads((fixed / RESUME_MANIFEST).read_text())["key"] == "k1"
    with pytest.raises(RuntimeError):  # any other error: the work goes
        with _folder(out, "k1") as staged:
            assert staged.resumed
            raise RuntimeError("boom")
    assert not fixed.exists()
    with pytest.raises(_Stop):
        with _folder(out, "k1") as staged:
            (fixed / "a.tif").write_text("done")
            raise _Stop()
    with pytest.raises(_Stop):
        with _folder(out, "k2") as staged:  # another key: not taken up, and said
            assert not staged.resumed and os.listdir(fixed) == [RESUME_MANIFEST]
            assert staged.started_over
            raise _Stop()
    with _folder(out, "k2") as staged:
        assert staged.resumed and not staged.started_over
        (fixed / "b.tif").write_text("done")
        (fixed / "journal").mkdir()
        (fixed / "journal" / "b.json").write_text("[]")
    # published without its bookkeeping
    assert sorted(os.listdir(out)) == sorted([MARKER, "b.tif"]) and not fixed.exists()
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []


def test_without_resume_a_stale_folder_goes_and_a_foreign_one_stays(tmp_path):
    out = tmp_path / "maps"
    fixed = tmp_path / ".maps.landlearn-resume"
    with pytest.raises(_Stop):
        with _folder(out, "k1"):
            raise _Stop()
    with _folder(out, "", resume=False) as staged:
        assert staged.staging != str(fixed) and not fixed.exists()
    fixed.mkdir()  # empty, as an interrupted removal could leave it
    with _folder(out, "k1") as staged:
        assert not staged.resumed
    fixed.mkdir()  # stopped while published: LandLearn's marker, no manifest
    (fixed / MARKER).write_text('{"generator": "LandLearn", "files": []}')
    with _folder(out, "k1") as staged:
        assert not staged.resumed
    fixed.mkdir()
    (fixed / "precious.txt").write_text("mine")
    with _folder(out, "", resume=False):
        pass
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: .* is in the way .* LandLearn did "
                       "not make it"):
        _folder(out, "k1")
    assert os.listdir(fixed) == ["precious.txt"]


def test_a_folder_that_cannot_be_published_keeps_its_work_and_bookkeeping(tmp_path):
    out = tmp_path / "maps"
    fixed = tmp_path / ".maps.landlearn-resume"
    with pytest.raises(InputError, match="^OUTPUT_FOLDER: the folder .* is not empty .* not "
                       "written by LandLearn"):
        with _folder(out, "k1"):
            (fixed / "a.tif").write_text("done")
            (fixed / "journal").mkdir()
            out.mkdir()
            (out / "notes.txt").write_text("appeared during the run")
    assert sorted(os.listdir(fixed)) == ["a.tif", "journal", RESUME_MANIFEST]
    os.remove(out / "notes.txt")
    with _folder(out, "k1") as staged:
        assert staged.resumed
    assert sorted(os.listdir(out)) == sorted([MARKER, "a.tif"])


def test_a_publish_that_fails_after_the_bookkeeping_moved_puts_it_back(tmp_path, monkeypatch):
    from landlearn.core import staged_folder

    out = tmp_path / "maps"
    fixed = tmp_path / ".maps.landlearn-resume"

    def full_disk(folder, algorithm):
        assert not os.path.exists(os.path.join(folder, RESUME_MANIFEST))  # moved aside
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(staged_folder, "write_marker", full_disk)
    with pytest.raises(OSError, match="No space left"):
        with _folder(out, "k1"):
            (fixed / "a.tif").write_text("done")
            (fixed / "journal").mkdir()
    assert sorted(os.listdir(fixed)) == ["a.tif", "journal", RESUME_MANIFEST]
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == [fixed.name]
    monkeypatch.undo()
    with _folder(out, "k1") as staged:
        assert staged.resumed


def test_a_publish_killed_midway_is_taken_up_again(tmp_path):
    """SIGKILL after the bookkeeping moved aside, before the folder was renamed: the next
    run puts it back and takes the work up."""
    out = tmp_path / "maps"
    fixed = tmp_path / ".maps.landlearn-resume"
    with pytest.raises(_Stop):
        with _folder(out, "k1"):
            (fixed / "a.tif").write_text("done")
            (fixed / "journal").mkdir()
            raise _Stop()
    aside = tmp_path / "..maps.landlearn-resume.0123abcd.part.aside"  # as publish names it
    aside.mkdir()
    for name in ("journal", RESUME_MANIFEST):
        os.replace(fixed / name, aside / name)
    with _folder(out, "k1") as staged:
        assert staged.resumed and sorted(os.listdir(fixed)) == ["a.tif", "journal",
                                                                 RESUME_MANIFEST]
    assert sorted(os.listdir(out)) == sorted([MARKER, "a.tif"])
    assert [f for f in os.listdir(tmp_path) if f.startswith(".")] == []


def test_an_aside_name_that_is_a_link_or_a_file_is_left_alone(tmp_path):
    """Only a folder LandLearn set aside is taken back: a link of that name would move
    another folder's contents into the resume folder (and its clean-up), a file failed."""
    out = tmp_path / "maps"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep")
    link = tmp_path / "..maps.landlearn-resume.0123abcd.part.aside"
    link.symlink_to(elsewhere, target_is_directory=True)
    (tmp_path / "..maps.landlearn-resume.89abcdef.part.aside").write_text("a file")
    with pytest.raises(_Stop):
        with _folder(out, "k1"):
            raise _Stop()
    with _folder(out, "k1") as staged:
        assert staged.resumed
    assert (elsewhere / "precious.txt").read_text() == "keep" and link.is_symlink()


def test_a_marker_too_deep_or_too_large_is_no_landlearn_marker(tmp_path):
    from landlearn.core import files, staged_folder

    folder = tmp_path / "out"
    folder.mkdir()
    (folder / MARKER).write_text("[" * 100_000 + "]" * 100_000)
    (folder / "a.tif").write_text("x")
    assert staged_folder.listed_files(str(folder)) is None and \
        staged_folder.marker_algorithm(str(folder)) is None
    (folder / MARKER).write_text(json.dumps({"generator": "LandLearn", "files": ["a.tif"]}))
    assert staged_folder.listed_files(str(folder)) == {"a.tif"}
    with pytest.raises(ValueError, match="more than"):
        files.read_small_json(str(folder / MARKER), 10)
