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
    with pytest.raises(InputError, match="cannot be read as JSON"):
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
