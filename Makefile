# gptc — plain make. Targets: all, test, san, fuzz, bench, demo, install, clean, format,
# format-check, check-symbols, check-link (docs/building.md).
#   make demo      install what is missing, build, train a small GPT on the fortunes, sample it
#   make test      install missing Debian packages (scripts/deps.sh), build, run every test
#   make san       the same tests built with clang + ASan/UBSan/LSan
#   make tsan      the tests that start threads built with clang + ThreadSanitizer
#   make fuzz      build the libFuzzer targets; make fuzz-run FUZZ_SECONDS=600 runs each
#   make bench     build and run the benchmarks in bench/ (never part of test)

CC      ?= cc
BUILD   ?= build
GPTC_DATA ?= ../shared/data
PREFIX  ?= /usr/local
OPT     ?= -O2
# -fPIC -fvisibility=hidden: the same objects make libgptc.a and libgptc.so, and the shared
# library exports only what include/gptc.h marks GPTC_API.
WARN    = -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wpointer-arith -Wcast-qual
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude -Isrc \
             $(OPT) -g -pthread -fPIC -fvisibility=hidden $(SANFLAGS) $(EXTRA_CFLAGS)
ifeq ($(CI),true)
CFLAGS_ALL += -Werror
endif
LDLIBS  = -lm -pthread -lpcre2-8 -ljansson -ledit -lmicrohttpd -lsqlite3

# Open MPI (data-parallel training, src/train/dist.c): only when its mpi.h is found; without it
# gptc builds as one process and `gptc train --help` says so. MPI=0 builds without it anyway.
ifneq ($(MPI),0)
MPI_CFLAGS := $(shell mpicc -showme:compile 2>/dev/null)
MPI_LIBS   := $(shell mpicc -showme:link 2>/dev/null)
MPI_HEADER := $(firstword $(wildcard $(patsubst -I%,%/mpi.h,$(filter -I%,$(MPI_CFLAGS))) /usr/include/mpi.h))
endif
ifneq ($(MPI_HEADER),)
CFLAGS_MPI = -DGPTC_HAVE_MPI $(MPI_CFLAGS)
LDLIBS    += $(MPI_LIBS)
endif
# dist.o is rebuilt when MPI appears or goes (the flags are recorded in $(BUILD)/.mpi-flags)
MPI_STAMP := $(BUILD)/.mpi-flags
$(shell mkdir -p $(BUILD) && (echo '$(CFLAGS_MPI)' | cmp -s - $(MPI_STAMP) || echo '$(CFLAGS_MPI)' > $(MPI_STAMP)))

# Per-file ISA flags: only these files may use intrinsics of their ISA.
ISA_avx2   = -mavx2 -mfma -mf16c
ISA_avx512 = -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mavx512vnni

LIB_SRC  = $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLI_SRC  = $(wildcard src/cli/*.c)
WEB      = $(sort $(wildcard web/*))
WEB_C    = $(BUILD)/gen/web_assets.c
LIB_OBJ  = $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC)) $(BUILD)/gen/web_assets.o
CLI_OBJ  = $(patsubst %.c,$(BUILD)/%.o,$(CLI_SRC))
LIB      = $(BUILD)/libgptc.a
SHLIB    = $(BUILD)/libgptc.so
VERSION := $(shell sed -n 's/^\#define GPTC_VERSION_STRING "\(.*\)"/\1/p' include/gptc.h)
SOMAJOR  = $(firstword $(subst ., ,$(VERSION)))
BIN      = $(BUILD)/gptc
TESTS    = $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
BENCHES  = $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
EXAMPLES = $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
REPLAYS  = $(patsubst fuzz/%.c,$(BUILD)/fuzz/replay_%,$(wildcard fuzz/fuzz_*.c))
# Header dependencies as the compiler finds them (-MMD -MP): each object gets a .d file beside it
# (a program: PROGRAM.d), so touching a header rebuilds only what includes it
# (tests/e2e/test_build_deps.sh).
# Every recipe that writes a .d touches its target afterwards: clang writes the .d after the
# object, and a .d newer than its target would rebuild it at every make.
DEPFLAGS = -MMD -MP
DEPFILES = $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) \
           $(addsuffix .d,$(TESTS) $(BENCHES) $(EXAMPLES) $(REPLAYS) $(SHARED_CHECKS) \
                          $(BUILD)/link/own_gguf_static)

.PHONY: all test test-only san tsan tsan-only fuzz fuzz-run bench bench-shapes bench-train bench-deps install clean deps demo format \
        format-check check-symbols check-link

SHARED_CHECKS = $(BUILD)/examples/simple_shared $(BUILD)/link/own_gguf_shared

all: $(BIN) $(TESTS) $(EXAMPLES) $(REPLAYS) $(SHLIB) $(SHARED_CHECKS)

# src/train: -O3 in the normal build, whose cost model lets the compiler vectorise the
# elementwise loops of the layers (norms, biases); without fast-math, reductions keep their
# order, so results do not change.
OPT_train = $(if $(filter -O2,$(OPT)),-O3)

$(BUILD)/%.o: %.c $(BUILD)/%.d
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) $(if $(findstring src/train/dist,$<),$(CFLAGS_MPI)) $(if $(findstring src/train/,$<),$(OPT_train)) $(if $(findstring _avx512,$<),$(ISA_avx512),$(if $(findstring _avx2,$<),$(ISA_avx2))) -c $< -o $@
	@touch $@

$(BUILD)/src/train/dist.o: $(MPI_STAMP)

# The web pages (web/: chat and training dashboard) compiled into the library, gzip-compressed.
$(WEB_C): $(WEB) scripts/embed-web.sh
	@mkdir -p $(dir $@)
	sh scripts/embed-web.sh $@ $(WEB)

$(BUILD)/gen/web_assets.o: $(WEB_C) $(BUILD)/gen/web_assets.d
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -c $< -o $@
	@touch $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The soname is libgptc.so.MAJOR; build/libgptc.so is the file itself, so that programs in the
# build tree can link it with -Lbuild -lgptc.
$(SHLIB): $(LIB_OBJ)
	$(CC) $(CFLAGS_ALL) -shared -Wl,-soname,libgptc.so.$(SOMAJOR) -o $@ $^ $(LDLIBS)
	@ln -sf libgptc.so $(BUILD)/libgptc.so.$(SOMAJOR)

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(CFLAGS_ALL) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIB) $(BUILD)/tests/%.d
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -MF $@.d -o $@ $< $(LIB) $(LDLIBS)
	@touch $@

$(BUILD)/bench/%: bench/%.c $(LIB) $(BUILD)/bench/%.d
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -MF $@.d -o $@ $< $(LIB) $(LDLIBS)
	@touch $@

# examples/: programs that use the library as an outside program does, through include/gptc.h
# alone (no -Isrc); tests/e2e/test_examples.sh runs them.
$(BUILD)/examples/%: examples/%.c $(LIB) $(BUILD)/examples/%.d
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Isrc,$(CFLAGS_ALL)) $(DEPFLAGS) -MF $@.d -o $@ $< $(LIB) $(LDLIBS)
	@touch $@

# The same example linked against libgptc.so (found through its rpath, $$ORIGIN/..), and
# tests/link/own_gguf.c: a program that defines ggml's gguf_find_tensor, gguf_add_tensor and
# gguf_set_arr_str itself and still loads a model through libgptc (tests/e2e/test_shared_lib.sh).
$(BUILD)/examples/simple_shared: examples/simple.c $(SHLIB) $(BUILD)/examples/simple_shared.d
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Isrc,$(CFLAGS_ALL)) $(DEPFLAGS) -MF $@.d -o $@ $< -L$(BUILD) -lgptc -Wl,-rpath,'$$ORIGIN/..'
	@touch $@

$(BUILD)/link/own_gguf_shared: tests/link/own_gguf.c $(SHLIB) $(BUILD)/link/own_gguf_shared.d
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Isrc,$(CFLAGS_ALL)) $(DEPFLAGS) -MF $@.d -o $@ $< -L$(BUILD) -lgptc -Wl,-rpath,'$$ORIGIN/..'
	@touch $@

# The same program linked against libgptc.a: it links only once every global of the archive
# starts with gptc_ (make check-symbols); until then the linker reports the clash.
$(BUILD)/link/own_gguf_static: tests/link/own_gguf.c $(LIB) $(BUILD)/link/own_gguf_static.d
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -Isrc,$(CFLAGS_ALL)) $(DEPFLAGS) -MF $@.d -o $@ $< $(LIB) $(LDLIBS)
	@touch $@

check-link: $(BUILD)/link/own_gguf_static $(BUILD)/link/own_gguf_shared
	$(BUILD)/link/own_gguf_static $(GPTC_DATA)/gguf/stories260K.gguf
	$(BUILD)/link/own_gguf_shared $(GPTC_DATA)/gguf/stories260K.gguf

# Every global symbol libgptc defines must start with gptc_ (names beginning with _ belong to
# the C implementation and the sanitizers): in the archive, which a program links whole, and
# in the shared library's exports.
check-symbols: $(LIB) $(SHLIB)
	@bad=$$( { nm -g --defined-only $(LIB); nm -D --defined-only $(SHLIB); } | \
	    awk 'NF == 3 && $$3 !~ /^gptc_/ && $$3 !~ /^_/ { print $$3 }' | sort -u); \
	if [ -n "$$bad" ]; then \
	    echo "check-symbols: $$(echo "$$bad" | wc -l) global symbols do not start with gptc_:"; \
	    echo "$$bad" | head -n 50 | sed 's/^/  /'; exit 1; fi; \
	echo "check-symbols: every global symbol of libgptc starts with gptc_"

# Each fuzz target linked with fuzz/replay.c instead of libFuzzer: a program that feeds it
# every file of fuzz/seeds/<target>/ and fuzz/crashes/<target>/ (tests/e2e/test_fuzz_replay.sh),
# in this build's compiler and sanitizers. (With two sources, the .d file is the last one's.)
$(BUILD)/fuzz/replay_%: fuzz/%.c fuzz/replay.c $(LIB) $(BUILD)/fuzz/replay_%.d
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(DEPFLAGS) -MF $@.d -o $@ fuzz/replay.c $< $(LIB) $(LDLIBS)
	@touch $@

# A missing .d file (a build from before -MMD, or one deleted) counts as new, so its object is
# rebuilt rather than trusted without its header list.
$(DEPFILES):
-include $(DEPFILES)

deps:
	@sh scripts/deps.sh

# The README's test command: dependencies, build, every unit test and end-to-end test.
test: deps
	@$(MAKE) --no-print-directory test-only

test-only: all
	@sh scripts/run-tests.sh $(BUILD)

san:
	@$(MAKE) --no-print-directory test-only CC=clang BUILD=build-san OPT=-O1 \
	    SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

# ThreadSanitizer over the tests that start threads: the thread pool, the model's threaded
# forward pass, the server (HTTP threads, slots, batches) and training. tests/tsan.supp lists
# what TSan must not report, each with the reason.
TSAN_TESTS = test_threads test_model test_moe test_server test_server_embd \
             test_server_hardening test_train test_train_ft test_train_io

tsan:
	@$(MAKE) --no-print-directory tsan-only CC=clang BUILD=build-tsan OPT=-O1 \
	    SANFLAGS="-fsanitize=thread -fno-omit-frame-pointer"

tsan-only: $(addprefix $(BUILD)/tests/,$(TSAN_TESTS))
	@TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	    sh scripts/run-tests.sh $(BUILD) $(addprefix $(BUILD)/tests/,$(TSAN_TESTS))

FUZZ_SRC  = $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN  = $(patsubst fuzz/%.c,build-fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 60

fuzz:
	@$(MAKE) --no-print-directory $(FUZZ_BIN) CC=clang BUILD=build-fuzz OPT=-O1 \
	    SANFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"

build-fuzz/fuzz_%: fuzz/fuzz_%.c $(LIB)
	$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer -o $@ $< $(LIB) $(LDLIBS)

fuzz-run: fuzz
	@for f in $(FUZZ_BIN); do \
	    n=$$(basename $$f); mkdir -p build-fuzz/corpus-$$n; \
	    echo "== $$n for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -print_final_stats=1 \
	        build-fuzz/corpus-$$n fuzz/seeds/$$n || exit 1; \
	done

bench: $(BIN) $(BENCHES) bench-deps
	@for b in $(filter-out $(BUILD)/bench/bench_shapes,$(BENCHES)); do echo "== $$b"; $$b || exit 1; done
	@if [ -x /usr/bin/chromium ] && [ -d tests/e2e/node-web/node_modules/playwright-core ]; then \
	    echo "== bench/bench_web.mjs"; GPTC=$(BIN) node bench/bench_web.mjs || exit 1; \
	else echo "== bench/bench_web.mjs skipped: needs chromium and npm ci in tests/e2e/node-web"; fi

# Real-shape models (Llama-3.2-1B ... Qwen3-30B-A3B, tens of GB written to SHAPES_DIR, deleted
# after each run): prefill/decode against the bandwidth bound, one markdown table
# (bench/bench_shapes.sh). Not part of `make bench`.
bench-shapes: $(BIN) $(BUILD)/bench/bench_shapes
	@GPTC=$(BIN) WRITER=$(BUILD)/bench/bench_shapes sh bench/bench_shapes.sh

# Training: data-parallel scaling (1 process x 2 threads vs 2 ranks x 1 thread on GPT-2 124M, the
# exchange time, projections to 8 and 64 ranks) and fine-tuning throughput (full vs LoRA r=16 on
# the 110M shape); one table, with the machine's load (bench/train_scaling.sh).
bench-train: $(BIN) $(BUILD)/bench/bench_finetune
	@GPTC=$(BIN) sh bench/train_scaling.sh

# bench_tokenizer's reference side: OpenAI's tiktoken from npm (pinned by package-lock.json).
# Optional: without node, the tokenizer benchmark reports gptc alone.
bench-deps:
	@if command -v npm >/dev/null 2>&1 && [ ! -d bench/tiktoken/node_modules/tiktoken ]; then \
	    (cd bench/tiktoken && npm ci --no-audit --no-fund >/dev/null) || \
	    echo "bench-deps: npm ci in bench/tiktoken failed; the tiktoken column will be empty"; fi

# The README's first command: dependencies (and the fortunes corpus), build, a few minutes of
# training on the CPU, new fortunes from the model (scripts/demo.sh).
demo:
	@GPTC_DEPS_BUILD_ONLY=1 sh scripts/deps.sh
	@$(MAKE) --no-print-directory $(BIN)
	@sh scripts/demo.sh $(BIN)

# OpenAI's tiktoken rank files ship in share/gptc/tiktoken (build/gptc finds them there, beside
# its directory); install checks them against their published sha256 before copying.
TIKTOKEN_FILES = $(wildcard share/gptc/tiktoken/*.tiktoken)

# pkg-config: Libs.private lists what a static link also needs.
install: $(BIN) $(LIB) $(SHLIB)
	cd share/gptc/tiktoken && sha256sum --quiet -c SHA256SUMS
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/share/gptc/tiktoken
	install -m 644 $(TIKTOKEN_FILES) share/gptc/tiktoken/LICENSE share/gptc/tiktoken/SHA256SUMS \
	    $(DESTDIR)$(PREFIX)/share/gptc/tiktoken
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/gptc
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libgptc.a
	install -m 755 $(SHLIB) $(DESTDIR)$(PREFIX)/lib/libgptc.so.$(VERSION)
	ln -sf libgptc.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libgptc.so.$(SOMAJOR)
	ln -sf libgptc.so.$(SOMAJOR) $(DESTDIR)$(PREFIX)/lib/libgptc.so
	install -m 644 include/gptc.h $(DESTDIR)$(PREFIX)/include/gptc.h
	printf '%s\n' 'prefix=$(PREFIX)' 'exec_prefix=$${prefix}' 'libdir=$${exec_prefix}/lib' \
	    'includedir=$${prefix}/include' '' 'Name: gptc' \
	    'Description: an open GPT stack in C: GGUF models, tokenizers, forward pass, sampling' \
	    'Version: $(VERSION)' 'Libs: -L$${libdir} -lgptc' 'Libs.private: $(LDLIBS)' \
	    'Cflags: -I$${includedir}' > $(DESTDIR)$(PREFIX)/lib/pkgconfig/gptc.pc

# clang-format 14 with the repository's .clang-format over every C file we write. format rewrites
# in place; format-check changes nothing and fails naming the files that differ.
CLANG_FORMAT ?= clang-format
FORMAT_SRC = $(wildcard src/*/*.c src/*/*.h include/*.h tests/*.c tests/*.h bench/*.c \
                        fuzz/*.c fuzz/*.h examples/*.c tests/link/*.c)

format:
	$(CLANG_FORMAT) -i $(FORMAT_SRC)

format-check:
	@$(CLANG_FORMAT) --version | grep -q 'version 14\.' || \
	    { echo "format-check: needs clang-format 14 (got: $$($(CLANG_FORMAT) --version))"; exit 1; }
	@bad=""; for f in $(FORMAT_SRC); do \
	    $(CLANG_FORMAT) --dry-run -Werror $$f >/dev/null 2>&1 || bad="$$bad $$f"; done; \
	if [ -n "$$bad" ]; then echo "format-check: not clang-formatted (make format):$$bad"; exit 1; fi; \
	echo "format-check: $(words $(FORMAT_SRC)) files clang-formatted"

clean:
	rm -rf build build-san build-tsan build-fuzz
