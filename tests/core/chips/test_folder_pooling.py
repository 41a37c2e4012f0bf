"""chips.folder_pooling: folders pooled into one training hold the same bands in the same
order (refused otherwise) and the same cell size and number type (warned). The whole
reading path is tested in test_training_data; here the rules on their own."""

from types import SimpleNamespace

import pytest

from landlearn.core.chips.folder_pooling import same_bands, same_pixels
from landlearn.core.errors import InputError
from landlearn.core.progress import RecordingProgress

UTM = 'PROJCS["WGS 84 / UTM zone 17N",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",' \
      '6378137,298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],' \
      'PROJECTION["Transverse_Mercator"],PARAMETER["central_meridian",-81],' \
      'PARAMETER["scale_factor",0.9996],PARAMETER["false_easting",500000],UNIT["metre",1]]'


def folder(path, bands=("B1", "B2"), cell=(10.0, 10.0), dtype="uint16", source=None):
    return SimpleNamespace(path=path, bands=list(bands), cell=cell, crs=UTM, dtype=dtype,
                           source_bands=source, source_band_count=6 if source else None)


def test_bands_in_another_order_are_refused_and_other_names_warned():
    with pytest.raises(InputError, match=r"'b' holds the bands \['B2', 'B1'\] against"):
        same_bands(folder("a"), folder("b", bands=("B2", "B1")), None)
    with pytest.raises(InputError, match=r"the raster's bands \[3, 2\] against \[2, 3\]"):
        same_bands(folder("a", source=[2, 3]), folder("b", source=[3, 2]), None)
    progress = RecordingProgress()
    same_bands(folder("a"), folder("b", bands=("SR_B1", "SR_B2")), progress)
    same_bands(folder("a"), folder("b", bands=("Band_1", "Band_2")), progress)  # generic
    assert len(progress.warnings) == 1 and "check that they are the same" in progress.warnings[0]


def test_another_cell_size_or_number_type_is_warned():
    progress = RecordingProgress()
    same_pixels(folder("a"), folder("b", cell=(10.05, 10.05)), progress)  # within 1%
    assert progress.warnings == []
    same_pixels(folder("a"), folder("b", cell=(30.0, 30.0)), progress)
    same_pixels(folder("a"), folder("b", dtype="float32"), progress)
    assert "'b' has cells of 30, 'a' 10" in progress.warnings[0]
    assert "'b' holds float32 chips, 'a' uint16" in progress.warnings[1]
    same_pixels(folder("a"), folder("b", dtype="float32"), None)  # no progress: nothing said
    quiet = RecordingProgress()
    same_pixels(folder("a", cell=(0.0, 0.0)), folder("b"), quiet)  # no size known: no ratio
    assert quiet.warnings == []
