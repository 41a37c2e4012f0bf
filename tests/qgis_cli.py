"""Running qgis_process.bin as a subprocess, the way CLI users and scripts run LandLearn."""

import os
import shutil
import subprocess

import pytest

from paths import PROFILE

QP = shutil.which("qgis_process.bin")


def qgis_process(*args, env_extra=None):
    if not (PROFILE / "profiles" / "default" / "python" / "plugins" / "landlearn").exists():
        pytest.skip("the throwaway QGIS profile is made by `make test` (scripts/setup.sh)")
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(PROFILE), QT_QPA_PLATFORM="offscreen")
    env.update(env_extra or {})
    return subprocess.run([QP, *args], capture_output=True, text=True, env=env, timeout=300)


