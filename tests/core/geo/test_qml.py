"""The .qml style written beside classified rasters: valid XML QGIS reads as a paletted style."""

import xml.etree.ElementTree as ET

from landlearn.core.geo.classes import ClassInfo
from landlearn.core.geo.qml import paletted_style


def test_one_palette_entry_per_class_with_colour_and_escaped_name():
    classes = [ClassInfo(1, "water", (0, 0, 255)), ClassInfo(3, 'forest & "wood" <old>', (0, 128, 0)),
               ClassInfo(255, "l'herbe", (255, 255, 254)), ClassInfo(7, "two\nlines\tand\r", (1, 2, 3))]
    text = paletted_style(classes, band=2)
    assert text.startswith("<!DOCTYPE qgis") and "written by LandLearn" in text
    root = ET.fromstring(text)
    assert root.tag == "qgis"
    renderer = root.find("pipe/rasterrenderer")
    assert renderer.get("type") == "paletted" and renderer.get("band") == "2"
    entries = renderer.findall("colorPalette/paletteEntry")
    assert [(e.get("value"), e.get("color"), e.get("alpha"), e.get("label")) for e in entries] == [
        ("1", "#0000ff", "255", "water"), ("3", "#008000", "255", 'forest & "wood" <old>'),
        ("255", "#fffffe", "255", "l'herbe"), ("7", "#010203", "255", "two\nlines\tand\r")]


def test_no_classes_is_still_a_valid_style():
    root = ET.fromstring(paletted_style([]))
    assert root.find("pipe/rasterrenderer").get("band") == "1"
    assert root.findall("pipe/rasterrenderer/colorPalette/paletteEntry") == []
