"""Segment: mean-shift segmentation into objects (ArcGIS's Segment Mean Shift, any bands)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingParameterBand,
    QgsProcessingParameterExtent,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
)

from .band_numbers import band_numbers
from .base import LandLearnAlgorithm
from .layers import extent_of, raster_path


class SegmentAlgorithm(LandLearnAlgorithm):
    ID = "segment"
    DISPLAY_NAME = "Segment (Mean Shift)"
    GROUP = "Segmentation"
    ICON = "segment"
    HELP = (
        "Groups adjacent pixels with similar values into segments (objects), like ArcGIS's "
        "Segment Mean Shift, but on any number of bands of any data type (bands are scaled to "
        "0..255 from their statistics; 8-bit data is used as is). By default (METHOD joint, "
        "as Orfeo ToolBox's LargeScaleMeanShift) every pixel climbs to its mode in space and "
        "range together, neighbouring pixels whose modes lie within a quarter of the range "
        "radius (and close in position) join one segment, and segments smaller than MIN_SEGMENT_SIZE merge into their most "
        "similar neighbour (METHOD fast filters rows then columns instead, and cuts the "
        "filtered image into connected regions of similar values). Large rasters are processed in tiles whose results are "
        "stitched exactly: a segment crossing tiles keeps one id. Runs as compiled code on "
        "every CPU core (on a GPU with DEVICE=cuda).\n\n"
        "Outputs: each segment filled with its mean values (OUTPUT), segment ids "
        "(OUTPUT_SEGMENT_IDS, uint32) and optional polygons with id, pixel count and band "
        "means.\n\n"
        "Example (qgis_process.bin on Debian): qgis_process run landlearn:segment -- INPUT_RASTER=naip.tif "
        "SPECTRAL_DETAIL=15.5 SPATIAL_DETAIL=15 MIN_SEGMENT_SIZE=20 OUTPUT=segments.tif"
    )

    def initAlgorithm(self, config=None):
        self.add(QgsProcessingParameterRasterLayer("INPUT_RASTER", self.tr("Image raster")),
                 "The image to segment: any band count and data type.")
        self.add(QgsProcessingParameterNumber(
            "SPECTRAL_DETAIL", self.tr("Spectral detail (1-20)"),
            QgsProcessingParameterNumber.Type.Double, defaultValue=15.5, minValue=1, maxValue=20),
            "Higher keeps finer spectral differences apart (a smaller range radius).")
        self.add(QgsProcessingParameterNumber(
            "SPATIAL_DETAIL", self.tr("Spatial detail (1-20)"),
            QgsProcessingParameterNumber.Type.Double, defaultValue=15.0, minValue=1, maxValue=20),
            "Higher keeps nearby features apart (a smaller spatial radius).")
        self.add(QgsProcessingParameterNumber(
            "MIN_SEGMENT_SIZE", self.tr("Minimum segment size (pixels)"),
            QgsProcessingParameterNumber.Type.Integer, defaultValue=20, minValue=1),
            "Smaller segments merge into their most similar neighbour.")
        self.add(QgsProcessingParameterNumber(
            "MAX_SEGMENT_SIZE", self.tr("Maximum segment size (pixels, 0 = none)"),
            QgsProcessingParameterNumber.Type.Integer, defaultValue=0, minValue=0),
            "Larger segments are cut by a grid of square cells of side sqrt(size) into "
            "pieces of at most this many pixels (slivers under the minimum size join the "
            "most similar piece of their segment that can take them within the maximum; the "
            "others stay small, counted in the log). 0, or at least 4 and a size whose cells "
            "(the square of its whole square root) hold MIN_SEGMENT_SIZE pixels (with 20: at "
            "least 25).")
        self.add(QgsProcessingParameterBand(
            "BAND_INDEXES", self.tr("Bands (empty = the first three that are not alpha)"),
            parentLayerParameterName="INPUT_RASTER", optional=True, allowMultiple=True),
            "Bands to segment on; any number.")
        self.add(QgsProcessingParameterExtent("EXTENT", self.tr("Extent"), optional=True),
                 "Optional area to segment, in any CRS (the dialog offers the map canvas "
                 "extent).")
        self.add_choice("METHOD", "Mean-shift method",
                        [("joint", "Joint spatial-range (Comaniciu & Meer, as Orfeo ToolBox)"),
                         ("fast", "Fast (separable filter, 3 passes)")],
                        "joint",
                        "joint moves every pixel to its mode in space and range together, "
                        "until a step is under THRESHOLD or MAX_ITERATIONS; fast filters "
                        "rows then columns three times (see BENCHMARKS.md for both).",
                        advanced=True)
        self.add(QgsProcessingParameterNumber(
            "THRESHOLD", self.tr("Convergence threshold (joint)"),
            QgsProcessingParameterNumber.Type.Double, defaultValue=0.1, minValue=0.0,
            maxValue=9.99),
            "A mode search stops when a step is shorter than this, in kernel units "
            "(Orfeo ToolBox's thres), 0 up to 10 (10 itself excluded: 9.99 at most).",
            advanced=True)
        self.add(QgsProcessingParameterNumber(
            "MAX_ITERATIONS", self.tr("Maximum iterations (joint)"),
            QgsProcessingParameterNumber.Type.Integer, defaultValue=100, minValue=1,
            maxValue=1000),
            "Steps per mode search at most (Orfeo ToolBox's maxiter), 1..1000.", advanced=True)
        self.add_choice("DEVICE", "Device", [("auto", "Auto (the compiled CPU pass)"),
                                             ("cuda", "CUDA GPU"), ("cpu", "CPU")], "auto",
                        "Where the mean-shift filter runs. Auto takes the compiled CPU pass "
                        "on every core (torch without numba). CUDA runs the joint search as "
                        "one Triton kernel outside QGIS desktop (qgis_process, scripts), "
                        "the torch search inside it; the log says which.")
        for key, label, kind, bounds, text in (
                ("SPATIAL_RADIUS", "Spatial radius in pixels (overrides spatial detail)",
                 QgsProcessingParameterNumber.Type.Integer, (1, 100),
                 "Orfeo ToolBox's spatialr, 1..100 pixels."),
                ("RANGE_RADIUS", "Range radius on the 0..255 scale (overrides spectral detail)",
                 QgsProcessingParameterNumber.Type.Double, (0.001, 1000),
                 "Orfeo ToolBox's ranger, above 0 and at most 1000.")):
            self.add(QgsProcessingParameterNumber(key, self.tr(label), kind, optional=True,
                                                  minValue=bounds[0], maxValue=bounds[1]),
                     text, advanced=True)
        self.add_size_limit("segmentation")
        self.add(QgsProcessingParameterRasterDestination(
            "OUTPUT", self.tr("Segmented raster (mean values)"), optional=True),
            "Each segment filled with its mean band values, in the input's data type. Optional: "
            "an object-based workflow may need OUTPUT_SEGMENT_IDS only (one output at least).")
        self.add(QgsProcessingParameterRasterDestination(
            "OUTPUT_SEGMENT_IDS", self.tr("Segment ids"), optional=True),
            "uint32 segment ids (0 = NoData), numbered in raster order.")
        self.add(QgsProcessingParameterVectorDestination(
            "OUTPUT_POLYGONS", self.tr("Segment polygons"), optional=True,
            createByDefault=False),
            "Optional GeoPackage of the segments' polygons (id, the segment's pixels, band "
            "means): one feature per connected part, so a segment in several parts has "
            "several features with its id.")
        self.addOutput(QgsProcessingOutputNumber("SEGMENT_COUNT", self.tr("Segments")))

    def perform(self, parameters, context, progress, feedback):
        from ..core.segment.segment_mean_shift import SegmentConfig, segment

        def optional_out(key, kind):
            if parameters.get(key) in (None, ""):
                return None
            return kind(parameters, key, context) or None

        def optional_num(key, kind):
            return None if parameters.get(key) in (None, "") else kind(parameters, key, context)

        config = SegmentConfig(
            input_raster=raster_path(self.parameterAsRasterLayer(parameters, "INPUT_RASTER",
                                                                 context), "INPUT_RASTER", feedback),
            output=optional_out("OUTPUT", self.parameterAsOutputLayer),
            output_segment_ids=optional_out("OUTPUT_SEGMENT_IDS", self.parameterAsOutputLayer),
            output_polygons=optional_out("OUTPUT_POLYGONS", self.parameterAsOutputLayer),
            spectral_detail=self.parameterAsDouble(parameters, "SPECTRAL_DETAIL", context),
            spatial_detail=self.parameterAsDouble(parameters, "SPATIAL_DETAIL", context),
            min_segment_size=self.parameterAsInt(parameters, "MIN_SEGMENT_SIZE", context),
            max_segment_size=self.parameterAsInt(parameters, "MAX_SEGMENT_SIZE", context),
            band_indexes=tuple(band_numbers(self, parameters, "BAND_INDEXES", context)) or None,
            extent=extent_of(self, parameters, "EXTENT", context),
            device=self.choice(parameters, "DEVICE"),
            method=self.choice(parameters, "METHOD"),
            threshold=self.parameterAsDouble(parameters, "THRESHOLD", context),
            max_iterations=self.parameterAsInt(parameters, "MAX_ITERATIONS", context),
            spatial_radius=optional_num("SPATIAL_RADIUS", self.parameterAsInt),
            range_radius=optional_num("RANGE_RADIUS", self.parameterAsDouble),
            max_output_gpx=self.size_limit(parameters, context))
        result = segment(config, progress)
        feedback.pushInfo(result.summary())
        return {"OUTPUT": config.output, "OUTPUT_SEGMENT_IDS": config.output_segment_ids,
                "OUTPUT_POLYGONS": result.outputs.get("polygons"),
                "SEGMENT_COUNT": result.segments}
