"""QGIS style sidecars (.qml), so QGIS shows class names and colours on load.

QGIS 3.22 reads a GeoTIFF's colour table but not its category names; a '<name>.qml'
beside the raster is loaded as its default style, with our names as palette labels.
Written by hand (core must not import QGIS); a processing test loads it in real QGIS.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

from .classes import ClassInfo


def _hex(color: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*[int(c) for c in color[:3]])


def paletted_style(classes: Sequence[ClassInfo], band: int = 1) -> str:
    entries = "\n".join(
        f'        <paletteEntry value="{c.value}" color="{_hex(c.color)}" alpha="255" '
        f"label={quoteattr(c.name)}/>"
        for c in classes
    )
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<!-- written by LandLearn -->
<qgis version="3.22.0" styleCategories="AllStyleCategories">
  <pipe>
    <rasterrenderer type="paletted" band="{band}" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <colorPalette>
{entries}
      </colorPalette>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" colorizeOn="0" grayscaleMode="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""
