"""Classify Raster Collection: many raster items through one model, as one mosaic or each
into its own map (ArcGIS's processing modes)."""

from __future__ import annotations

from .classify_collection import MODES, CollectionConfig, CollectionResult, classify_collection
from .items import Item, describe_items, list_items

__all__ = ["MODES", "CollectionConfig", "CollectionResult", "Item", "classify_collection",
           "describe_items", "list_items"]
