# Tollgate build. `make run` and `make test` are the two commands a new
# machine needs; both install what is missing first (scripts/deps.sh).
#
#   make            build build/<mode>/tollgate
#   make run        install deps, build, start ./var/pg, migrate, demo, serve
#   make stop       stop the embedded Postgres cluster
#   make test       unit tests, integration and end-to-end tests on throwaway
#                   clusters, then the fuzz corpus replayed
#   make SANITIZE=1 test   the same under ASan and UBSan
#   make bench      benchmarks with their ceilings
#   make format / format-check / compdb / clean

CC       ?= cc
SANITIZE ?= 0
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)

ifeq ($(SANITIZE),1)
MODE     := asan
OPTFLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
MODE     := release
OPTFLAGS := -O2 -g
endif
B := build/$(MODE)

PKGS     := libmicrohttpd jansson libpq libcrypto zlib libprotobuf-c libcurl
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
            -Wno-format-nonliteral -Wvla -Wpointer-arith -Wundef
# Recursive (=) on purpose: pkg-config must run after `deps` has installed
# the libraries on a fresh machine, not when the Makefile is read.
CFLAGS    = -std=c11 -D_GNU_SOURCE $(OPTFLAGS) $(WARN) -pthread -MMD -MP \
            -Iserver -Iingest -Ipolicies -I$(B)/gen -I$(PB_GEN) $(PKG_CFLAGS)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
LDFLAGS  := $(OPTFLAGS) -pthread
LDLIBS    = $(shell pkg-config --libs $(PKGS))

MIGRATIONS := $(sort $(wildcard schema/[0-9]*.sql))
SERVER_SRC := $(wildcard server/*.c)
CORE_SRC   := $(wildcard ingest/*.c policies/*.c)
# Protobuf: protoc-c turns ingest/otlp.proto into build/gen/otlp.pb-c.[ch]
# (one copy for every mode and for the fuzz targets: the generated code is
# the same; never edit it by hand). Unit tests and fuzz targets that link
# the generated code name it in their "// links:" line as
# build/gen/otlp.pb-c.c; their rules below generate it first.
PB_GEN     := build/gen
PB_C       := $(PB_GEN)/otlp.pb-c.c
PB_H       := $(PB_GEN)/otlp.pb-c.h
SERVER_OBJ := $(SERVER_SRC:%.c=$(B)/%.o) $(CORE_SRC:%.c=$(B)/%.o) $(B)/gen/migrations.o \
              $(B)/gen/otlp.pb-c.o
UNIT_SRC   := $(wildcard tests/unit/*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/unit_%)
IT_SRC     := $(wildcard tests/integration/*.c)
IT_BIN     := $(B)/tests/integration

# The dashboard's third-party scripts, copied from node_modules (npm ci)
# into web/vendor/ (build output, not in git): the page loads nothing from
# the network.
WEB_VENDOR := web/vendor/chart.umd.js

.PHONY: all deps run stop test unit integration e2e fuzz fuzz-regress bench format format-check compdb clean
all: $(B)/tollgate $(WEB_VENDOR)

deps:
	@scripts/deps.sh

$(B)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DTOLLGATE_VERSION='"$(VERSION)"' -c -o $@ $<

$(B)/gen/migrations.c: $(MIGRATIONS) scripts/embed-sql.sh
	@mkdir -p $(dir $@)
	scripts/embed-sql.sh $@ $(MIGRATIONS)

$(B)/gen/migrations.o: $(B)/gen/migrations.c
	$(CC) $(CFLAGS) -Wno-overlength-strings -c -o $@ $<

$(PB_C): ingest/otlp.proto | deps
	@mkdir -p $(PB_GEN)
	protoc-c --c_out=$(PB_GEN) --proto_path=ingest $<
$(PB_H): $(PB_C)

$(B)/gen/otlp.pb-c.o: $(PB_C) $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The generated header must exist before anything that may include it compiles.
$(SERVER_SRC:%.c=$(B)/%.o) $(CORE_SRC:%.c=$(B)/%.o): | $(PB_H)

$(B)/tollgate: $(SERVER_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
	$(if $(filter release,$(MODE)),@ln -sf release/tollgate build/tollgate)

# Unit tests: each suite links the module it tests (named in its first line,
# "// links: server/route.c ...") and Criterion, and nothing else.
$(B)/tests/unit_%: tests/unit/%.c $(wildcard server/*.[ch] ingest/*.[ch] policies/*.[ch]) $(PB_C) $(PB_H) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(shell sed -n '1s|^// links:||p' $<) $(LDLIBS) -lcriterion $(LDFLAGS)

$(IT_BIN): $(IT_SRC) tests/harness.c tests/harness.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $(IT_SRC) tests/harness.c $(LDLIBS) -lcriterion $(LDFLAGS)

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do $$t --jobs=2 --short-filename; done

# The webhook tests run a Node receiver (tests/webhooks/receiver.mjs) that
# verifies signatures with the npm package standardwebhooks, so they need the
# npm packages too (the rule that installs them is below).
integration: $(B)/tollgate $(IT_BIN) node_modules/.package-lock.json
	TOLLGATE_BIN=$(CURDIR)/$(B)/tollgate tests/with-pg.sh $(IT_BIN) --jobs=2 --short-filename

# End-to-end tests: real OpenTelemetry clients from npm (tests/e2e/*.mjs,
# lib.mjs is their helper) against the real binary of this build mode, each
# on its own throwaway cluster (tests/e2e/run.sh). `npm ci` runs only when
# node_modules is missing or older than package-lock.json (npm ci writes
# node_modules/.package-lock.json last); the integration tests use it too.
E2E_TESTS := $(filter-out tests/e2e/lib.mjs,$(wildcard tests/e2e/*.mjs))

node_modules/.package-lock.json: package-lock.json package.json | deps
	npm ci --no-audit --no-fund
	@touch $@

web/vendor/chart.umd.js: node_modules/.package-lock.json
	@mkdir -p $(dir $@)
	cp node_modules/chart.js/dist/chart.umd.js $@

e2e: $(B)/tollgate node_modules/.package-lock.json $(WEB_VENDOR)
	@set -e; for t in $(E2E_TESTS); do tests/with-pg.sh tests/e2e/run.sh $(B)/tollgate $$t; done

test: unit integration e2e fuzz-regress

# Fuzz targets: fuzz/NAME.c, linked like unit tests ("// links: ..." on the
# first line), built with clang's libFuzzer, ASan and UBSan. `make fuzz` runs
# each for FUZZ_SECONDS and grows its corpus in tests/corpus/NAME; `make
# fuzz-regress` (part of `make test`) replays the kept corpus once.
FUZZ_SRC     := $(wildcard fuzz/*.c)
FUZZ_BIN     := $(FUZZ_SRC:fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=all -Iserver -Iingest -Ipolicies -I$(PB_GEN) $(PKG_CFLAGS)

build/fuzz/%: fuzz/%.c $(wildcard ingest/*.[ch] policies/*.[ch] fuzz/*.h) $(PB_C) $(PB_H) | deps
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(shell sed -n '1s|^// links:||p' $<) $(LDLIBS)

fuzz: $(FUZZ_BIN)
	@set -e; for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p tests/corpus/$$n; \
	  echo "fuzzing $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 tests/corpus/$$n; done

fuzz-regress: $(FUZZ_BIN)
	@set -e; for f in $(FUZZ_BIN); do n=$$(basename $$f); \
	  if [ -d tests/corpus/$$n ]; then $$f -runs=0 tests/corpus/$$n >/dev/null 2>&1 \
	    || { echo "fuzz-regress: $$n failed on its corpus"; $$f -runs=0 tests/corpus/$$n; exit 1; }; \
	  echo "fuzz-regress: $$n: $$(ls tests/corpus/$$n | wc -l) inputs ok"; fi; done

run: $(B)/tollgate $(WEB_VENDOR)
	@scripts/run.sh $(B)/tollgate

stop:
	@scripts/pg.sh stop $(CURDIR)/var/pg

bench: $(B)/tollgate
	@scripts/bench.sh $(B)

FORMAT_SRC = $(wildcard server/*.[ch] ingest/*.[ch] policies/*.[ch] tests/*.[ch] tests/*/*.c bench/*.c fuzz/*.c)
format: | deps
	clang-format -i $(FORMAT_SRC)
format-check: | deps
	clang-format --dry-run --Werror $(FORMAT_SRC)

compdb:
	@scripts/compdb.sh "$(CC)" "$(CFLAGS)" $(SERVER_SRC) $(CORE_SRC) > compile_commands.json
	@echo "wrote compile_commands.json"

clean:
	rm -rf build web/vendor

-include $(SERVER_OBJ:.o=.d)
