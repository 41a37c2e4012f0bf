"""QGIS style sidecars (.qml), so QGIS shows class names and colours on load.

QGIS 3.22 reads a GeoTIFF's colour table but not its category names; a '<name>.qml'
beside the raster is loaded as its default style, with our names as palette labels.
Written by hand (core must not import QGIS); a processing test loads it in real QGIS.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from .classes import ClassInfo


def _quoted(text: str) -> str:
    """``text`` as a quoted XML attribute value. Not xml.sax.saxutils': it imports urllib,
    http and email (65 ms of every run that writes a styled raster)."""
    escaped = html.escape(text, quote=True)
    return '"' + escaped.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;") + '"'


def _hex(color: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*[int(c) for c in color[:3]])


def paletted_style(classes: Sequence[ClassInfo], band: int = 1) -> str:
    entries = "\n".join(
        f'        <paletteEntry value="{c.value}" color="{_hex(c.color)}" alpha="255" '
        f"label={_quoted(c.name)}/>"
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
