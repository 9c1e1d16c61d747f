# Two commands do all the set-up on a fresh Linux machine with Python >= 3.11:
#   make demo   # venv + every dependency, then the offline demo (prepare, fit, report)
#   make test   # venv + every dependency, then the test suite
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: install demo test clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar off -e '.[all,test]'
	touch $@

demo: install
	$(BIN)/audiobits demo --out runs/demo

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs data
