# LandLearn: `make demo` and `make test` do all setup on a fresh Debian 12 / Ubuntu machine.
SHELL := /bin/bash
LANDLEARN_VENV ?= .venv
PY := $(LANDLEARN_VENV)/bin/python
QGIS_ENV := source scripts/qgis_env.sh
PYTEST_ARGS ?=

.PHONY: setup test lint demo package clean screenshots test-qgis340 test-qgis344 demo-qgis340

setup:
	@bash scripts/setup.sh

lint: setup
	$(PY) -m ruff check .

test: setup lint
	$(QGIS_ENV) && $(PY) -m pytest $(PYTEST_ARGS)

# refresh README's screenshots from the Xvfb GUI test (`make test` never writes them)
screenshots: setup
	$(QGIS_ENV) && LANDLEARN_SCREENSHOTS=1 $(PY) -m pytest tests/gui -q

demo: setup
	@$(QGIS_ENV) && bash scripts/demo.sh

# the same suite on QGIS 3.40 LTR (Debian trixie) and 3.44 (sid), in roots built by
# scripts/qgis_root.sh and cached between runs (needs root: debootstrap, chroot)
test-qgis340:
	bash scripts/test_in_root.sh trixie test

test-qgis344:
	bash scripts/test_in_root.sh sid test

demo-qgis340:
	bash scripts/test_in_root.sh trixie demo

package:
	@/usr/bin/python3 scripts/package.py

clean:
	rm -rf .build .qgis-profile demo_output dist .pytest_cache .ruff_cache
