"""Processing tests: the LandLearn provider registered in pytest-qgis's headless QGIS."""

import pytest

# Providers created from Python must stay referenced while registered.
_ALIVE = []


@pytest.fixture
def provider(qgis_app, qgis_processing):
    from qgis.core import QgsApplication

    from landlearn.processing_provider.provider import LandLearnProvider

    registry = QgsApplication.processingRegistry()
    existing = registry.providerById("landlearn")
    if existing is not None:
        return existing
    prov = LandLearnProvider()
    _ALIVE.append(prov)
    assert registry.addProvider(prov)
    return prov
