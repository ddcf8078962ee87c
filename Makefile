# make          install dependencies and build
# make demo     the daily sales job on ../shared/data/superstore.csv (embedded PostgreSQL if none is configured)
# make test     lint (types, format), then unit and end-to-end tests against a real PostgreSQL
# make bench    throughput and memory figures beside baselines measured in the same run
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all

SRC := $(shell find src -name '*.ts')

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

dist/.built: node_modules/.package-lock.json tsconfig.json $(SRC)
	npx tsc -p tsconfig.json
	@touch $@

build: dist/.built

test: build
	node scripts/run-tests.mjs

# Types (tsc --noEmit) and formatting (prettier --check, pinned in package.json): a failure names the files.
lint: node_modules/.package-lock.json
	npm run --silent lint

demo: build
	bash scripts/demo.sh

bench: build
	bash bench/run.sh

install: build
	npm install -g .

clean:
	rm -rf dist .bx/test-db

.PHONY: all build test lint demo bench install clean
