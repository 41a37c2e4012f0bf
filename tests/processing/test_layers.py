"""processing_provider.layers: what QGIS shows reaches the engine (see also
test_rasterize_labels for layers read as QGIS shows them)."""


def test_a_user_defined_crs_reaches_the_engine_as_wkt(provider):
    """A CRS saved in QGIS's user CRS database is 'USER:100000' by authority, which PROJ
    cannot read: an EXTENT in it stopped with 'its CRS is not understood' (the LandLearn
    menu fills EXTENT in the canvas CRS). (The test profile has no user CRS database: the
    CRS stands in with that authority.)"""
    from qgis.core import QgsCoordinateReferenceSystem
    from rasterio.crs import CRS

    from landlearn.processing_provider.layers import crs_text

    real = QgsCoordinateReferenceSystem.fromProj("+proj=tmerc +lat_0=0 +lon_0=15.5 "
                                                 "+k=0.9996 +x_0=500000 +y_0=0 +datum=WGS84 "
                                                 "+units=m")

    class UserCrs:
        def isValid(self):
            return True

        def authid(self):
            return "USER:100000"

        def toWkt(self, variant):
            return real.toWkt(variant)

    text = crs_text(UserCrs())
    assert not text.upper().startswith("USER:")
    assert CRS.from_user_input(text).to_dict()["lon_0"] == 15.5
    assert crs_text(QgsCoordinateReferenceSystem("EPSG:32633")) == "EPSG:32633"
    assert CRS.from_user_input(crs_text(real)).to_dict()["lon_0"] == 15.5  # no authority
