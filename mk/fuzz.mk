# mk/fuzz.mk - libFuzzer targets (included by the Makefile).
#
#   make fuzz [FUZZ_SECONDS=30] [FUZZ_TARGETS="fuzz_config ..."]
#
# Builds every tests/fuzz/fuzz_*.c with clang -fsanitize=fuzzer,address,
# undefined against the supervisor objects (all but main.o, built again with
# -fsanitize=fuzzer-no-link,address,undefined in build/fuzz), replays the
# regression inputs in tests/fuzz/regress_<target>/, then runs each target
# for FUZZ_SECONDS on its seed corpus tests/fuzz/corpus_<target>/ (new
# inputs go to build/fuzz/corpus_<target>/, the seeds stay as committed).
# Fails on the first crash, leak, timeout or sanitizer report.

FUZZ_CC		?= clang
FUZZ_SECONDS	?= 30
FUZZ_BUILD	 = build/fuzz
FUZZ_SAN	 = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		   -fno-omit-frame-pointer
FUZZ_CFLAGS	 = -g -O1 $(FUZZ_SAN)
FUZZ_ALL	 = $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_TARGETS	?= $(FUZZ_ALL)
FUZZ_OBJ	 = $(patsubst supervisor/%.c,$(FUZZ_BUILD)/supervisor/%.o,\
		   $(filter-out supervisor/main.c supervisor/top.c,$(SUP_SRC))) \
		   $(FUZZ_BUILD)/third_party/inih/ini.o
FUZZ_BIN	 = $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/supervisor/%.o: supervisor/%.c supervisor/clusterd.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(WARN) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    $(PKG_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/third_party/inih/%.o: third_party/inih/%.c third_party/inih/ini.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(WARN) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	    -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(WARN) $(FUZZ_CFLAGS) -fsanitize=fuzzer \
	    $(PKG_CFLAGS) -Isupervisor -o $@ $< $(FUZZ_OBJ) $(LIBS) -ldl

# Keep the objects: make would delete them as intermediates.
.SECONDARY: $(FUZZ_OBJ)

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) \
	    tests/fuzz/run $(FUZZ_TARGETS)

.PHONY: fuzz fuzz-build
