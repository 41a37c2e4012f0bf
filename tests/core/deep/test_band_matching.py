"""deep.band_matching: names normalised within a sensor, wavelengths across sensors."""

import pytest

from landlearn.core.deep.band_matching import (
    PRESETS,
    match_bands,
    normalised,
    parse_bands,
    wavelength,
)
from landlearn.core.errors import InputError


def test_names_are_normalised_and_wavelengths_read():
    assert normalised("b4") == normalised("B04") == normalised(" B 04 ") == "B04"
    assert normalised("red-edge_1") == "REDEDGE1" and normalised("B8A") == "B8A"
    assert wavelength("665 nm") == pytest.approx(0.665)
    assert wavelength("band 3 (0.56um)") == pytest.approx(0.56)
    assert wavelength("Red Edge 2") == pytest.approx(0.740)
    assert wavelength("B8A") == pytest.approx(0.865) and wavelength("B11") == pytest.approx(1.61)
    assert wavelength("B2") is None  # Landsat's B2 or Sentinel-2's? Only B02 says which
    assert wavelength("Band_1") is None


def test_presets_and_lists():
    assert [n for n, _ in parse_bands("Sentinel2")][8:10] == ["B8A", "B09"]
    assert len(parse_bands("sentinel2")) == 13 and len(parse_bands("sentinel2_l2a")) == 12
    assert parse_bands("red, green ,blue") == [("red", 0.665), ("green", 0.56), ("blue", 0.49)]
    assert parse_bands("") is None and parse_bands(None) is None
    assert set(PRESETS) == {"sentinel2", "sentinel2_l2a", "landsat8", "rgb", "rgbn"}
    with pytest.raises(InputError, match="^PRETRAINED_BANDS: 'a,,b' is neither a preset"):
        parse_bands("a,,b")


def test_name_first_then_the_nearest_wavelength_within_tolerance():
    s2 = parse_bands("sentinel2")
    m = match_bands(["B4", "red", "nir", "865nm", "1.0um", "Band_7"], s2)
    assert m.source == (3, 3, 7, 8, None, None)
    assert m.how == ("B04 by name (padded)", "B04 by wavelength", "B08 by wavelength",
                     "B8A by wavelength", "mean", "mean")
    assert m.matched == 4
    # "B4" is Sentinel-2's red or Landsat 5/7's near infrared: the log says how it was read
    names = ["B4", "red", "nir", "865nm", "1.0um", "Band_7"]
    assert m.describe(names).endswith("; B4 read as Sentinel-2's zero-padded names: if they "
                                      "are another sensor's (Landsat's B4 is near infrared, "
                                      "Sentinel-2's red), name the training bands by wavelength")
    assert "padded" not in match_bands(["B04", "b 8a"], s2).describe(["B04", "b 8a"])
    # Landsat 8's swir1 (1.609 um) meets Sentinel-2's B11 (1.610 um) across sensors
    l8 = parse_bands("landsat8")
    assert match_bands(["B11", "B12", "B01"], l8).how == ("swir1 by wavelength",
                                                            "swir2 by wavelength",
                                                            "coastal by wavelength")
    assert m.describe(["B4", "red", "nir", "865nm", "1.0um", "Band_7"]).startswith(
        "first convolution: 4 of 6 training bands matched to the checkpoint's bands (B4<-B04 "
        "by name (padded), ")
