# Every target bootstraps what it needs, so `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install sysdeps test test-lowest demo lint completions bench build-check clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) sysdeps

# PortAudio is needed for playback (and its tests); installed when we are root with apt-get.
sysdeps:
	@if ! ldconfig -p 2>/dev/null | grep -q 'libportaudio.so.2'; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing libportaudio2 (playback)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libportaudio2 >/dev/null; \
	  else echo "note: libportaudio2 is missing; playback (and its tests) need it" >&2; fi; \
	fi

# Two workers: most tests wait on a subprocess or a socket, and CI has two cores.
test: install
	$(PY) -m pytest -q -n 2

# The suite again on the oldest Python the project supports with every dependency at its declared
# floor (scripts/lowest_requirements.py): what a user installing beside older packages runs. Without
# a Python 3.10 it runs on $(PYTHON) if that is 3.11 (the floors have no wheels for later ones).
LOWEST_VENV ?= .venv-lowest
LOWEST_PYTHON ?= $(firstword $(shell python3.10 -c 'import sys; print(sys.executable)' 2>/dev/null) \
  $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3) $(PYTHON))
test-lowest: install
	@$(LOWEST_PYTHON) -c 'import sys; v = sys.version_info[:2]; print(f"test-lowest: Python {v[0]}.{v[1]}"); \
	  sys.exit(0 if v <= (3, 11) else "test-lowest: needs Python 3.10 or 3.11: set LOWEST_PYTHON=...")'
	rm -rf $(LOWEST_VENV)
	$(LOWEST_PYTHON) -m venv $(LOWEST_VENV)
	$(PY) scripts/lowest_requirements.py > $(LOWEST_VENV)/requirements.txt
	$(LOWEST_VENV)/bin/python -m pip install -q -r $(LOWEST_VENV)/requirements.txt -e .
	$(LOWEST_VENV)/bin/python -m pytest -q -n 2 -p no:cacheprovider

demo: install
	bash scripts/demo.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check smallest_cli tests scripts

completions: $(STAMP)
	$(PY) scripts/gen_completions.py

# The network mode plays through a PulseAudio null sink: installed when we are root with apt-get.
bench: install
	$(PY) scripts/bench.py
	@if ! command -v parec >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing PulseAudio (the bench's real-time sink)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pulseaudio pulseaudio-utils libasound2-plugins >/dev/null; \
	fi
	$(PY) scripts/bench_network.py

build-check: $(STAMP)
	bash scripts/build_check.sh

clean:
	rm -rf $(VENV) $(LOWEST_VENV) dist build *.egg-info .pytest_cache .ruff_cache
