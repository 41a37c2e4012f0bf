# Source me: the environment under which qgis_process.bin and the tests see LandLearn.
# Debian's /usr/bin/qgis_process wrapper passes an option its binary rejects; use the .bin.
_ll_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export QGIS_CUSTOM_CONFIG_PATH="$_ll_root/.qgis-profile"
export QT_QPA_PLATFORM=offscreen
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
_ll_site=$("$_ll_root/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
export PYTHONPATH="$_ll_root/.build/pythonpath:$_ll_site${PYTHONPATH:+:$PYTHONPATH}"
unset _ll_root _ll_site
