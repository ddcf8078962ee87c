# make          install dependencies and build
# make demo     the store chain's daily sales job (scripts/demo/; DAY=2026-11-23 for another day;
#               embedded PostgreSQL if none is configured)
# make demo-superstore  the same family on real data: ../shared/data/superstore.csv
# make test     lint (types, format), then unit and end-to-end tests against a real PostgreSQL
# make bench    throughput and memory figures beside baselines measured in the same run
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := all

SRC := $(shell find src -name '*.ts')

all: build

# A node_modules that is a symlink is shared with another checkout (a git worktree): npm ci
# there would empty it under everyone using it.
node_modules/.package-lock.json: package.json package-lock.json
	@if [ -L node_modules ]; then echo "make: node_modules is a shared symlink; not running npm ci" >&2; else npm ci --no-audit --no-fund; fi
	@touch $@

dist/.built: node_modules/.package-lock.json tsconfig.json $(SRC)
	npx tsc -p tsconfig.json
	node scripts/bundle.mjs
	@touch $@

build: dist/.built

test: build
	node scripts/run-tests.mjs

# Types (tsc --noEmit) and formatting (prettier --check, pinned in package.json): a failure names the files.
lint: node_modules/.package-lock.json
	npm run --silent lint

demo: build
	$(MAKE) --no-print-directory -C scripts/demo fresh

demo-superstore: build
	bash scripts/demo.sh

bench: build
	bash bench/run.sh

install: build
	npm install -g .

clean:
	rm -rf dist .bx/test-db

.PHONY: all build test lint demo demo-superstore bench install clean
