"""Segment (ArcGIS's Segment Mean Shift): mean-shift segmentation of any raster, tiled
and stitched exactly."""

from __future__ import annotations

from .segment_mean_shift import SegmentConfig, SegmentResult, segment

__all__ = ["SegmentConfig", "SegmentResult", "segment"]
