"""A GDAL read error mid-run named by the input whose file failed, never called a bug in
LandLearn (processing_provider/base.unreadable_input)."""

import pytest


def test_unreadable_inputs_are_named_by_their_files_only():
    """A GDAL read error names the input whose file it names (the longest path it holds),
    never a choice whose word it happens to contain ('TIFF' in TIFFReadEncodedTile), and a
    write error (a full disk) is no damaged input (review, stop 66)."""
    from landlearn.processing_provider.base import unreadable_input

    class CPLE_AppDefinedError(Exception):  # noqa: N801 - GDAL's name, as rasterio raises it
        pass

    files = [("IMAGE_CHIP_FORMAT", "TIFF"), ("LABELS", "/d/cut.tif.gpkg"),
             ("INPUT_RASTER", "/d/cut.tif"), ("MASK", "cut.tif")]
    read = CPLE_AppDefinedError("Read or write failed. /d/cut.tif, band 1: IReadBlock failed "
                                "at X offset 0, Y offset 0: TIFFReadEncodedTile() failed.")
    assert unreadable_input(read, files).startswith("INPUT_RASTER: '/d/cut.tif' cannot be read")
    assert unreadable_input(read, files[:1]).startswith("Reading a raster failed")
    full = CPLE_AppDefinedError("libjpeg: Output file write error --- out of disk space?")
    assert unreadable_input(full, files) is None
    assert unreadable_input(ValueError("Read failed /d/cut.tif"), files) is None


def test_a_damaged_raster_given_as_a_layer_is_named(provider, sample, tmp_path):
    """The toolbox passes a layer, not a path: the file behind it is what GDAL names."""
    import processing
    from osgeo import gdal
    from qgis.core import QgsProcessingException, QgsProject, QgsRasterLayer

    damaged = tmp_path / "cut.tif"
    gdal.Translate(str(damaged), str(sample / "nc_landsat7" / "landsat_multiband.tif"),
                   creationOptions=["TILED=YES"])
    with open(damaged, "r+b") as fh:
        fh.truncate(damaged.stat().st_size // 8)
    layer = QgsRasterLayer(str(damaged), "cut")
    assert layer.isValid()
    # in the project, as a layer of the toolbox is, and taken out before the test ends: a
    # layer Python still held at exit, whose GDAL dataset had failed a read, crashed the
    # interpreter after the last test (heap corruption in GDAL's teardown)
    QgsProject.instance().addMapLayer(layer)
    try:
        with pytest.raises(QgsProcessingException, match=r"^INPUT_RASTER: '.*cut\.tif' cannot "
                                                         r"be read .*damaged or incomplete"):
            processing.run("landlearn:rasterizelabels", {
                "INPUT_RASTER": layer, "LABELS": str(sample / "nc_landsat7" / "strata.tif"),
                "OUTPUT": str(tmp_path / "labels.tif")})
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.tif"]


def test_a_damaged_tile_of_a_vrt_is_named(provider, sample, tmp_path):
    """A mosaic (VRT) whose tile is damaged: GDAL names the tile, which no parameter held,
    and the run ended in 'Reading a raster failed ... a bug in LandLearn?'."""
    import processing
    from osgeo import gdal
    from qgis.core import QgsProcessingException

    damaged = tmp_path / "cut.tif"
    gdal.Translate(str(damaged), str(sample / "nc_landsat7" / "landsat_multiband.tif"),
                   creationOptions=["TILED=YES"])
    gdal.BuildVRT(str(tmp_path / "mosaic.vrt"), [str(damaged)])
    with open(damaged, "r+b") as fh:
        fh.truncate(damaged.stat().st_size // 8)
    with pytest.raises(QgsProcessingException, match=r"^INPUT_RASTER: '.*cut\.tif' cannot "
                                                     r"be read .*damaged or incomplete"):
        processing.run("landlearn:rasterizelabels", {
            "INPUT_RASTER": str(tmp_path / "mosaic.vrt"),
            "LABELS": str(sample / "nc_landsat7" / "strata.tif"),
            "OUTPUT": str(tmp_path / "labels.tif")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.tif", "mosaic.vrt"]


@pytest.mark.parametrize("levels", [1, 2])
def test_a_missing_tile_of_a_vrt_is_named_as_missing(provider, sample, tmp_path, levels):
    """A mosaic (VRT) whose tile was deleted: GDAL's file list leaves out files that do not
    exist, so no input was named ("Reading a raster failed ... a bug in LandLearn?"). Now
    the tile is named, as missing, under the parameter that held the VRT; through a VRT
    of VRTs too (a mosaic of per-year mosaics: only the first level was looked into)."""
    import shutil

    import processing
    from osgeo import gdal
    from qgis.core import QgsProcessingException

    tile = tmp_path / "tile.tif"
    shutil.copy(sample / "nc_landsat7" / "landsat_multiband.tif", tile)
    made = [tmp_path / "mosaic.vrt"]
    gdal.BuildVRT(str(made[0]), [str(tile)])
    for level in range(1, levels):
        made.append(tmp_path / f"mosaic{level}.vrt")
        gdal.BuildVRT(str(made[-1]), [str(made[-2])])
    tile.unlink()
    with pytest.raises(QgsProcessingException, match=r"^INPUT_RASTER: '.*tile\.tif' cannot "
                                                     r"be read .*it does not exist"):
        processing.run("landlearn:segment", {
            "INPUT_RASTER": str(made[-1]),
            "OUTPUT_SEGMENT_IDS": str(tmp_path / "ids.tif")})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in made)


def test_a_damaged_item_of_a_folder_is_said_to_be_in_it(tmp_path):
    from landlearn.processing_provider.base import unreadable_input

    class CPLE_AppDefinedError(Exception):  # noqa: N801 - GDAL's name
        pass

    tile = tmp_path / "tiles" / "a.tif"
    tile.parent.mkdir()
    error = CPLE_AppDefinedError(f"{tile}, band 1: IReadBlock failed at X offset 0")
    said = unreadable_input(error, [("FOLDER", str(tile.parent)), ("PATTERN", "*.tif")])
    assert said.startswith(f"FOLDER: a file in '{tile.parent}' cannot be read ({tile}, band 1")


def test_a_read_error_chained_as_rasterio_14_raises_it_is_named():
    """rasterio 1.4: 'Read failed. See previous exception for details.', GDAL's message
    (with the file) in the exception it chains (QGIS 3.40's trixie root)."""
    from landlearn.processing_provider.base import unreadable_input

    class CPLE_AppDefinedError(Exception):  # noqa: N801 - GDAL's name
        pass

    class RasterioIOError(Exception):
        pass

    try:
        try:
            raise CPLE_AppDefinedError("/d/cut.tif, band 1: IReadBlock failed at X offset 0, "
                                       "Y offset 0: TIFFReadEncodedTile() failed.")
        except CPLE_AppDefinedError as gdal_error:
            raise RasterioIOError("Read failed. See previous exception for details.") \
                from gdal_error
    except RasterioIOError as exc:
        said = unreadable_input(exc, [("INPUT_RASTER", "/d/cut.tif")])
    assert said.startswith("INPUT_RASTER: '/d/cut.tif' cannot be read (Read failed. See "
                           "previous exception for details. / /d/cut.tif, band 1: IReadBlock")
    # GDAL 3.10 names the file without its folder: named when one input has that name
    alone = CPLE_AppDefinedError("cut.tif, band 1: IReadBlock failed at X offset 0")
    assert unreadable_input(alone, [("INPUT_RASTER", "/d/cut.tif"), ("LABELS", "/d/l.gpkg")]
                            ).startswith("INPUT_RASTER: '/d/cut.tif' cannot be read")
    assert unreadable_input(alone, [("INPUT_RASTER", "/d/cut.tif"), ("MASK", "/e/cut.tif")]
                            ).startswith("Reading a raster failed")  # which one: not known
    assert unreadable_input(alone, [("INPUT_RASTER", "/d/xcut.tif")]).startswith("Reading")


def test_windows_paths_and_bare_names_typed_are_named(tmp_path, monkeypatch):
    """QGIS gives Windows paths as C:/...; the check for a folder used os.sep (a backslash
    there), so no Windows input was ever named. A bare name typed to qgis_process in its
    folder is a path too; a choice word is not (review, stop 67)."""
    from landlearn.processing_provider.base import unreadable_input

    class CPLE_AppDefinedError(Exception):  # noqa: N801 - GDAL's name
        pass

    for path in ("C:/Users/jane/cut.tif", "C:\\Users\\jane\\cut.tif"):
        full = CPLE_AppDefinedError(f"{path}, band 1: IReadBlock failed at X offset 0")
        assert unreadable_input(full, [("INPUT_RASTER", path)]).startswith(
            f"INPUT_RASTER: '{path}' cannot be read")
        alone = CPLE_AppDefinedError("cut.tif, band 1: IReadBlock failed at X offset 0")
        assert unreadable_input(alone, [("INPUT_RASTER", path)]).startswith(
            f"INPUT_RASTER: '{path}' cannot be read")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cut.tif").write_bytes(b"II*\0")
    alone = CPLE_AppDefinedError("cut.tif, band 1: IReadBlock failed at X offset 0")
    assert unreadable_input(alone, [("INPUT_RASTER", "cut.tif")]).startswith(
        "INPUT_RASTER: 'cut.tif' cannot be read")
    tiff = CPLE_AppDefinedError("Read failed: TIFFReadEncodedTile() failed")
    assert unreadable_input(tiff, [("IMAGE_CHIP_FORMAT", "TIFF")]).startswith("Reading")
