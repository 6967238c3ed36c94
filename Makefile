# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench mutation lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/govshare demo

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest -n 2 -q --durations=25

bench: $(STAMP)
	$(BIN)/python -m bench.run

# Mutation testing of the modules where a rule lives (mutmut; docs/testing.md), scores in
# bench/results/mutation.json. Hours on two cores, so not part of `make test` or CI. MODULES=authz,gateway.masking
# runs a subset; MUTATION_ARGS=--survivors tests again only what was not killed; MUTATION_CHILDREN=2 on an idle machine;
# MUTATION_DATABASE_URL=postgresql+psycopg://… also runs the tests on PostgreSQL (for code only PostgreSQL runs).
MUTATION_CHILDREN ?= 1
mutation: $(STAMP)
	env -u GOVSHARE_TEST_DATABASE_URL $(BIN)/python -m bench.mutation --max-children $(MUTATION_CHILDREN) \
		$(if $(MODULES),--modules "$(MODULES)") $(if $(MUTATION_DATABASE_URL),--database-url "$(MUTATION_DATABASE_URL)") \
		$(MUTATION_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

clean:
	rm -rf $(VENV) var .pytest_cache
