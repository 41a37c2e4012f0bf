"""LandLearn's Processing provider: QGIS parameters in, core configs out."""
