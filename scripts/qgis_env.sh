# Source me: the environment under which qgis_process.bin and the tests see LandLearn.
# Debian's /usr/bin/qgis_process wrapper passes an option its binary rejects; use the .bin.
# LANDLEARN_VENV and LANDLEARN_PROFILE (defaults .venv and .qgis-profile in the checkout)
# let a second QGIS (scripts/test_in_root.sh) run the same tree with its own of each.
_ll_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LANDLEARN_VENV="${LANDLEARN_VENV:-$_ll_root/.venv}"
export LANDLEARN_PROFILE="${LANDLEARN_PROFILE:-$_ll_root/.qgis-profile}"
export QGIS_CUSTOM_CONFIG_PATH="$LANDLEARN_PROFILE"
export QT_QPA_PLATFORM=offscreen
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
_ll_site=$("$LANDLEARN_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
export PYTHONPATH="$_ll_root/.build/pythonpath:$_ll_site${PYTHONPATH:+:$PYTHONPATH}"
unset _ll_root _ll_site
