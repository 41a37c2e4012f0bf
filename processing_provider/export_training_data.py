"""Export Training Data: image + labels -> a Classified Tiles chip folder (ArcGIS-compatible)."""

from __future__ import annotations

from dataclasses import replace

from qgis.core import (
    QgsProcessing,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBand,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorLayer,
)

from .band_numbers import band_numbers
from .base import LandLearnAlgorithm
from .label_params import add_label_parameters, label_config
from .layers import extent_of, raster_path, vector_path
from .selection import MASK_FIX, source_unwrapped


class ExportTrainingDataAlgorithm(LandLearnAlgorithm):
    ID = "exporttrainingdata"
    DISPLAY_NAME = "Export Training Data"
    GROUP = "Training data"
    ICON = "export"
    HELP = (
        "Cuts an image and its labels into georeferenced chip pairs for training a pixel "
        "classifier, in the Esri 'Classified Tiles' layout that ArcGIS Pro writes and "
        "arcgis.learn reads: images/ and labels/ chips, GeoTIFF unless IMAGE_CHIP_FORMAT "
        "says PNG or JPEG (image chips keep the source data type and NoData, JPEG a mask "
        "instead; edge chips are padded with NoData and label 0), map.txt, "
        "esri_accumulated_stats.json (class pixel counts, band statistics over valid pixels), "
        "esri_model_definition.emd, plus landlearn_manifest.json with each chip's position, "
        "class histogram and spatial block, so training can validate on whole areas.\n\n"
        "Labels are polygons/points with a class field (numeric or text) or a classified "
        "raster, in any CRS; 0 means unlabelled. Nothing outside EXTENT enters the export, "
        "which makes EXTENT a clean way to keep a test area out of training. The folder "
        "appears only when the export is complete; a cancel leaves nothing.\n\n"
        "Example (qgis_process.bin on Debian): qgis_process run landlearn:exporttrainingdata -- "
        "INPUT_RASTER=s2.tif LABELS=osm_landuse.gpkg CLASS_FIELD=fclass TILE_SIZE_X=256 "
        "TILE_SIZE_Y=256 STRIDE_X=128 STRIDE_Y=128 OUTPUT_FOLDER=chips"
    )

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterRasterLayer("INPUT_RASTER", self.tr("Image raster")),
                 "The image to cut into chips: any band count and data type (uint8, uint16, "
                 "int16, float32...). Chips keep its data type and NoData value.")
        self.add(QgsProcessingParameterBand(
            "BANDS", self.tr("Bands (empty = all but alpha)"), parentLayerParameterName="INPUT_RASTER",
            optional=True, allowMultiple=True),
            "Bands to export, in this order. Empty: every band except an alpha band.")
        add_label_parameters(self)
        self.add(QgsProcessingParameterNumber(
            "BUFFER_RADIUS", self.tr("Buffer radius around point labels (0 = one pixel)"),
            QgsProcessingParameterNumber.Type.Double, defaultValue=0.0, minValue=0.0),
            "Point labels are burnt as discs of this radius, in the raster CRS's units "
            "(metres for UTM; degrees for EPSG:4326), as ArcGIS's buffer radius makes circular "
            "training areas of points; each point's own pixel stays labelled however small "
            "the radius. 0: one pixel per point. Polygons, lines and label rasters are not "
            "changed.")
        self.add(QgsProcessingParameterExtent("EXTENT", self.tr("Extent"), optional=True),
                 "Optional area to export, in any CRS (the dialog offers the map canvas extent). "
                 "Pixels and labels outside it are left out, even from chips that straddle it.")
        self.add(QgsProcessingParameterVectorLayer(
            "MASK_POLYGONS", self.tr("Mask polygons (optional)"),
            [QgsProcessing.SourceType.TypeVectorPolygon], optional=True),
            "Only chips that lie wholly inside these polygons are exported (ArcGIS's mask "
            "polygons), e.g. the blocks whose labels you trust; any CRS. Pixels of an edge "
            "chip beyond the raster or EXTENT do not count. The log says how many chips the "
            "mask left out.", advanced=True)
        self.add(QgsProcessingParameterNumber(
            "ROTATION_ANGLE", self.tr("Rotation angle for extra chips (degrees, 0 = none)"),
            QgsProcessingParameterNumber.Type.Double, defaultValue=0.0, minValue=0.0,
            maxValue=359.0),
            "ArcGIS's rotation angle: each chip is also exported turned by this angle, "
            "twice this angle, and so on below 360 degrees (90: three copies; 30: eleven), "
            "resampled nearest neighbour from the raster, corners past it padded. Copies "
            "stay in their chip's spatial block, so validation never sees a turned copy of "
            "a training chip. 0 or 10..359.", advanced=True)
        self.add(QgsProcessingParameterNumber(
            "CELL_SIZE", self.tr("Cell size (empty = the raster's)"),
            QgsProcessingParameterNumber.Type.Double, optional=True),
            "Resample to this resolution, in the raster CRS's units (degrees for EPSG:4326): "
            "the image bilinear, labels nearest neighbour.", advanced=True)
        self.add_choice(
            "IMAGE_CHIP_FORMAT", "Image chip format",
            [("TIFF", "TIFF"), ("PNG", "PNG"), ("JPEG", "JPEG")], "TIFF",
            "ArcGIS's image format of the chips. TIFF: any data type and band count, "
            "uncompressed (training reads it fastest). PNG: lossless, 8- or 16-bit in 1 or 3 "
            "bands. JPEG: lossy (quality 95), 8-bit in 1 or 3 bands; its chips keep no NoData "
            "value, a mask inside the file tells the missing pixels; labels are PNG. PNG and "
            "JPEG keep the georeferencing in a .aux.xml beside each chip. A raster the format "
            "cannot hold is refused before anything is written (ArcGIS's MRF is not "
            "offered: it keeps no mask).", advanced=True)
        for key, label, default, text in (
                ("TILE_SIZE_X", "Tile size X (pixels, 0 = automatic)", 0,
                 "Chip width in pixels, 16..4096. 0 = automatic: the largest of 256, 128, 64 "
                 "and 32 px that puts labels in at least 16 chip-sized blocks, so that Train "
                 "Deep Learning Model can hold whole blocks out for validation (256 on large "
                 "areas, smaller on small ones); 0 with TILE_SIZE_Y set: square chips of "
                 "that size."),
                ("TILE_SIZE_Y", "Tile size Y (pixels, 0 = automatic)", 0,
                 "Chip height in pixels, 16..4096; 0 = as X (automatic when both are 0)."),
                ("STRIDE_X", "Stride X (pixels, 0 = automatic)", 0,
                 "Horizontal step between chips. Less than the tile size makes chips overlap "
                 "(more, partly redundant chips); equal to it makes them touch; 0 = half the "
                 "chip width, or a quarter of it where the labels lie in less than 0.5 MPix "
                 "of chip-sized blocks (small training areas: more views of the few labels "
                 "make training steadier, for a little more time); with STRIDE_Y given: "
                 "STRIDE_Y's share of the chip height on the chip width."),
                ("STRIDE_Y", "Stride Y (pixels, 0 = automatic)", 0,
                 "Vertical step between chips; 0 = STRIDE_X's share of the chip width on "
                 "the chip height (both 0: the automatic rule, on the chip height).")):
            self.add(QgsProcessingParameterNumber(
                key, self.tr(label), QgsProcessingParameterNumber.Type.Integer, defaultValue=default),
                text)
        self.add(QgsProcessingParameterNumber(
            "MIN_LABELED_FRACTION", self.tr("Minimum labelled fraction per chip"),
            QgsProcessingParameterNumber.Type.Double, defaultValue=0.0),
            "Keep a chip only when at least this fraction (0..1) of its pixels is labelled "
            "(of those inside the raster or EXTENT, for a chip over its edge). 0 keeps every "
            "chip with any labelled pixel.")
        self.add(QgsProcessingParameterBoolean(
            "OUTPUT_NOFEATURE_TILES", self.tr("Also export chips without labels"),
            defaultValue=False),
            "Keep chips that hold no labelled pixel too (chips that are all NoData are never "
            "kept).", advanced=True)
        self.add(QgsProcessingParameterBoolean(
            "OVERWRITE", self.tr("Replace an existing training data folder"), defaultValue=False),
            "Allow OUTPUT_FOLDER to be a folder an earlier LandLearn export wrote; it is replaced "
            "only once the new export is complete, and only if it holds nothing but that "
            "export's files. Other non-empty folders are never touched.")
        self.add_size_limit("export area")
        self.add(QgsProcessingParameterFolderDestination(
            "OUTPUT_FOLDER", self.tr("Output folder")),
            "New or empty folder for the chips and metadata files.")
        self.addOutput(QgsProcessingOutputNumber("CHIP_COUNT", self.tr("Chips written")))
        self.addOutput(QgsProcessingOutputNumber("CLASS_COUNT",
                                                 self.tr("Number of classes with pixels")))
        self.addOutput(QgsProcessingOutputNumber("LABELLED_PIXELS",
                                                 self.tr("Labelled pixels in the chips")))

    def perform(self, parameters, context, progress, feedback):
        from ..core.chips.export_training_data import ExportConfig, export_training_data

        image = raster_path(self.parameterAsRasterLayer(parameters, "INPUT_RASTER", context),
                            "INPUT_RASTER", feedback)
        cell = parameters.get("CELL_SIZE")
        config = ExportConfig(
            input_raster=image,
            labels=replace(label_config(self, parameters, context, feedback),
                           buffer_radius=self.parameterAsDouble(parameters, "BUFFER_RADIUS",
                                                                context)),
            output_folder=self.parameterAsFileOutput(parameters, "OUTPUT_FOLDER", context),
            bands=tuple(band_numbers(self, parameters, "BANDS", context)) or None,
            extent=extent_of(self, parameters, "EXTENT", context),
            cell_size=None if cell in (None, "") else self.parameterAsDouble(
                parameters, "CELL_SIZE", context),
            tile_size_x=self.parameterAsInt(parameters, "TILE_SIZE_X", context),
            tile_size_y=self.parameterAsInt(parameters, "TILE_SIZE_Y", context),
            stride_x=self.parameterAsInt(parameters, "STRIDE_X", context),
            stride_y=self.parameterAsInt(parameters, "STRIDE_Y", context),
            min_labeled_fraction=self.parameterAsDouble(parameters, "MIN_LABELED_FRACTION",
                                                        context),
            output_nofeature_tiles=self.parameterAsBoolean(parameters, "OUTPUT_NOFEATURE_TILES",
                                                           context),
            overwrite=self.parameterAsBoolean(parameters, "OVERWRITE", context),
            rotation_angle=self.parameterAsDouble(parameters, "ROTATION_ANGLE", context),
            image_chip_format=self.choice(parameters, "IMAGE_CHIP_FORMAT"),
            max_output_gpx=self.size_limit(parameters, context))
        unwrapped, mask_selected = source_unwrapped(parameters, "MASK_POLYGONS", MASK_FIX)
        mask = self.parameterAsVectorLayer(unwrapped, "MASK_POLYGONS", context)
        if mask is not None:
            path, layer = vector_path(mask, "MASK_POLYGONS", mask_selected, context, feedback)
            config = replace(config, mask_polygons=path, mask_layer=layer)
        result = export_training_data(config, progress)
        for line in result.summary().splitlines():
            (feedback.pushWarning if line.startswith("Warning:") else feedback.pushInfo)(line)
        feedback.pushInfo(f"Training data written to {result.output_folder}")
        return {"OUTPUT_FOLDER": result.output_folder, "CHIP_COUNT": result.chips,
                # the classes the chips hold, as Rasterize Labels counts them (a class the
                # layer names but no chip holds was counted; a sweep, stop 69)
                "CLASS_COUNT": sum(1 for c in result.classes
                                   if result.class_pixels.get(c.value, 0) > 0),
                "LABELLED_PIXELS": sum(result.class_pixels.values())}
