"""chips.chip_listing: the chips a training folder lists, kept inside the folder."""

import os

import pytest

from landlearn.core.chips.chip_listing import chip_pairs, inside, load_json
from landlearn.core.errors import InputError


def test_a_listed_path_that_leads_out_of_the_folder_falls_back_inside(tmp_path):
    folder = str(tmp_path / "train")
    os.makedirs(os.path.join(folder, "images"))
    assert inside(folder, "images/000.tif", "images") == \
        os.path.realpath(os.path.join(folder, "images", "000.tif"))
    for listed in ("../elsewhere/000.tif", "/etc/000.tif", "D:\\data\\images\\000.tif",
                   "images/../../000.tif"):
        assert inside(folder, listed, "images") == os.path.join(folder, "images", "000.tif")
    with pytest.raises(TypeError):
        inside(folder, 7, "images")


def test_a_listing_pairs_chips_by_stem_and_skips_world_files(tmp_path):
    for sub in ("images", "labels"):
        os.makedirs(tmp_path / sub)
        for name in ("000.tif", "000.tfw", "001.png", "notes.txt"):
            (tmp_path / sub / name).write_bytes(b"")
    (tmp_path / "images" / "002.tif").write_bytes(b"")  # no label: left out
    pairs = chip_pairs(str(tmp_path))
    assert [(os.path.basename(i), os.path.basename(lab)) for i, lab, _ in pairs] == \
        [("000.tif", "000.tif"), ("001.png", "001.png")]


def test_a_description_that_is_not_an_object_is_refused(tmp_path):
    (tmp_path / "m.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="^TRAINING_DATA: .*JSON list, not the object"):
        load_json(str(tmp_path / "m.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(InputError, match="cannot be read as JSON .* export the training data "
                                         "again"):
        load_json(str(tmp_path / "bad.json"))


def test_a_description_larger_than_the_limit_is_refused_before_it_is_parsed(tmp_path,
                                                                            monkeypatch):
    from landlearn.core.chips import chip_listing

    (tmp_path / "m.json").write_text('{"a": "' + "x" * 2000 + '"}')
    monkeypatch.setattr(chip_listing, "MAX_JSON", 1000)
    with pytest.raises(InputError, match="^TRAINING_DATA: .*more than 1000 bytes"):
        load_json(str(tmp_path / "m.json"))
    monkeypatch.setattr(chip_listing, "MAX_JSON", 4000)
    assert len(load_json(str(tmp_path / "m.json"))["a"]) == 2000


@pytest.mark.parametrize("how", ["listing", "map.txt", "manifest"])
def test_chips_that_are_links_out_of_the_folder_or_fifos_are_refused(tmp_path, how):
    """A folder from someone else (a tar keeps links) whose chip links to a raster of the
    reader's was trained on and shown in the report; one that is a FIFO hung the run.
    Refused naming the chip, however the folder lists its chips; a link inside the folder
    is read."""
    import json

    folder = tmp_path / "train"
    for sub in ("images", "labels"):
        os.makedirs(folder / sub)
    private = tmp_path / "private.tif"
    private.write_bytes(b"secret")
    (folder / "labels" / "000.tif").write_bytes(b"")
    (folder / "images" / "000.tif").symlink_to(private)
    (folder / "images" / "001.tif").write_bytes(b"")
    (folder / "labels" / "001.tif").symlink_to(folder / "labels" / "000.tif")  # inside: fine
    if how == "map.txt":
        (folder / "map.txt").write_text("images\\000.tif labels\\000.tif\n"
                                        "images\\001.tif labels\\001.tif\n")
    elif how == "manifest":
        (folder / "landlearn_manifest.json").write_text(json.dumps({"chips": [
            {"image": "images/000.tif", "label": "labels/000.tif"},
            {"image": "images/001.tif", "label": "labels/001.tif"}]}))
    with pytest.raises(InputError, match=r"chip 'images/000.tif' leads outside the folder, "
                       r"to '.*private.tif'.*copy the chips in"):
        chip_pairs(str(folder))
    (folder / "images" / "000.tif").unlink()
    os.mkfifo(folder / "images" / "000.tif")
    with pytest.raises(InputError, match="chip 'images/000.tif' is not a regular file"):
        chip_pairs(str(folder))
    (folder / "images" / "000.tif").unlink()
    (folder / "images" / "000.tif").write_bytes(b"")
    assert len(chip_pairs(str(folder))) == 2


def test_map_txt_is_the_list_and_the_manifest_describes_what_it_lists(tmp_path):
    """A damaged chip's line taken out of map.txt (the error's advice) was read again from
    the manifest; chips another tool appended to map.txt were left out. map.txt lists,
    the manifest describes the chips it knows (matched by image and label)."""
    import json

    for sub in ("images", "labels"):
        os.makedirs(tmp_path / sub)
        for k in range(3):
            (tmp_path / sub / f"00{k}.tif").write_bytes(b"")
    entries = [{"image": f"images/00{k}.tif", "label": f"labels/00{k}.tif", "block": k}
               for k in range(2)]
    (tmp_path / "landlearn_manifest.json").write_text(json.dumps({"chips": entries}))
    (tmp_path / "map.txt").write_text("images\\000.tif labels\\000.tif\n"
                                      "images\\001.tif labels\\001.tif\n")
    assert [e for _, _, e in chip_pairs(str(tmp_path))] == entries  # the two agree
    (tmp_path / "map.txt").write_text("images\\001.tif labels\\001.tif\n"
                                      "images\\002.tif labels\\002.tif\n")
    got = chip_pairs(str(tmp_path))
    assert [os.path.basename(i) for i, _, _ in got] == ["001.tif", "002.tif"]
    assert [e for _, _, e in got] == [entries[1], {}]


def test_map_txt_lines_of_windows_paths_with_spaces_pair_their_chips(tmp_path):
    """ArcGIS writes absolute paths; on Windows they hold spaces ('C:\\Users\\Jane Doe\\..'),
    and the line was split at every space: 'lists chips that do not exist, e.g. Jane'."""
    for sub in ("images", "labels"):
        os.makedirs(tmp_path / sub)
        for k in range(2):
            (tmp_path / sub / f"00{k}.TIF").write_bytes(b"")
    far = "C:\\Users\\Jane Doe\\Documents\\ArcGIS\\Projects\\land cover\\chips"
    (tmp_path / "map.txt").write_text("".join(
        f"{far}\\images\\00{k}.TIF   {far}\\labels\\00{k}.TIF\r\n" for k in range(2)))
    got = chip_pairs(str(tmp_path))
    assert [(i, lab) for i, lab, _ in got] == [
        (str(tmp_path / "images" / f"00{k}.TIF"), str(tmp_path / "labels" / f"00{k}.TIF"))
        for k in range(2)]


def test_a_folder_named_like_a_chip_with_a_space_does_not_cut_the_line_short(tmp_path):
    """'D:\\x.tif chips\\images\\000.tif ...': the first suffix followed by a space cut the
    image's path at 'D:/x.tif' (listed chips that do not exist)."""
    for sub in ("images", "labels"):
        os.makedirs(tmp_path / sub)
        (tmp_path / sub / "000.tif").write_bytes(b"")
    far = "D:\\x.tif chips"
    (tmp_path / "map.txt").write_text(f"{far}\\images\\000.tif {far}\\labels\\000.tif\n")
    got = chip_pairs(str(tmp_path))
    assert [(i, lab) for i, lab, _ in got] == [
        (str(tmp_path / "images" / "000.tif"), str(tmp_path / "labels" / "000.tif"))]


@pytest.mark.parametrize("line", ["broken line with no pair", "images/000.tif",
                                  "images/000.tif labels/000.xyz"])
def test_a_map_txt_line_that_is_no_image_and_label_pair_is_named(tmp_path, line):
    """A garbled line was read as chips named by its first two words and refused as chips
    that do not exist ('e.g. .../broken'); a one-word line was skipped (a sweep, stop 72).
    Blank lines are no pairs and are passed over."""
    for sub in ("images", "labels"):
        os.makedirs(tmp_path / sub)
        (tmp_path / sub / "000.tif").write_bytes(b"")
    ok = "images/000.tif labels/000.tif\n"
    (tmp_path / "map.txt").write_text(ok + "\n  \n" + ok)
    assert len(chip_pairs(str(tmp_path))) == 2
    (tmp_path / "map.txt").write_text(ok + "\n" + line + "\n")
    with pytest.raises(InputError, match=r"^TRAINING_DATA: .*map\.txt' line 3 \('"
                       + line.split()[0] + r".*'\) is not an image path and a label path "
                       r"\(chips end in \.tif, .*\); mend or remove that line"):
        chip_pairs(str(tmp_path))


def test_a_map_txt_too_large_or_with_an_endless_line_is_refused_before_it_is_read(
        tmp_path, monkeypatch):
    """A map.txt comes with someone else's folder: one line of 40 MB ('a.tif ' repeated)
    took 282 s and 1.7 GB before it was refused. Its size is checked first, and no line
    is read past MAX_MAP_LINE."""
    from landlearn.core.chips import chip_listing

    for sub in ("images", "labels"):
        os.makedirs(tmp_path / sub)
        (tmp_path / sub / "000.tif").write_bytes(b"")
    ok = "images/000.tif labels/000.tif\n"
    (tmp_path / "map.txt").write_text(ok + "a.tif " * 3000 + "b.tif\n")
    with pytest.raises(InputError, match=r"^TRAINING_DATA: .*map.txt' line 2 is longer than "
                                         r"16384 characters.*mend that line"):
        chip_pairs(str(tmp_path))
    (tmp_path / "map.txt").write_text(ok * 40)
    monkeypatch.setattr(chip_listing, "MAX_JSON", 1000)
    with pytest.raises(InputError, match=r"map.txt' is 0 MB, more than a list of a million "
                                         r"chips.*export the training data again"):
        chip_pairs(str(tmp_path))
    monkeypatch.setattr(chip_listing, "MAX_JSON", 2000)
    assert len(chip_pairs(str(tmp_path))) == 40


def test_a_description_whose_parse_may_not_fit_in_memory_is_refused_before_it_is_parsed(
        tmp_path, monkeypatch):
    """256 MB of '[{},{},...]' took 7 GB once parsed (24 times its size; adversarial sweep,
    stop 68). Its values are counted before the parse, a bound for any JSON: with the
    memory available below it, refused naming the memory; a manifest that fits is read."""
    from landlearn.core.chips import chip_listing

    monkeypatch.setattr(chip_listing, "CHECKED_FROM", 1000)
    (tmp_path / "m.json").write_text('{"chips": [' + ",".join(["{}"] * 100_000) + "]}")
    # 100,001 "{", one "[", 99,999 ",", one ":" and the first value
    need = 200_003 * chip_listing.BYTES_PER_VALUE + (tmp_path / "m.json").stat().st_size
    assert need / (tmp_path / "m.json").stat().st_size > 20
    monkeypatch.setattr(chip_listing, "available_memory",
                        lambda device: (need - 1, "of memory available"))
    with pytest.raises(InputError, match=r"^TRAINING_DATA: .*m.json' \(0 MB\) takes up to "
                       r"0\.0 GB once read, and there are 0\.0 GB of memory available; free "
                       r"memory, or export the training data in smaller folders"):
        load_json(str(tmp_path / "m.json"))
    monkeypatch.setattr(chip_listing, "available_memory",
                        lambda device: (need, "of memory available"))
    assert len(load_json(str(tmp_path / "m.json"))["chips"]) == 100_000
