# libFuzzer targets (included by the top Makefile).
#
# Built by clang in build/fuzz/ straight from the lib/ sources, never
# mixed with the gcc objects in lib/.  Each target's committed seed
# corpus is tests/fuzz/corpus/<target>/.
#
#   make fuzz                 fuzz every target FUZZ_SECONDS (default 60)
#   make fuzz FUZZ_TARGETS=addr FUZZ_SECONDS=600
#   make fuzz-build           only build them (make test does, and runs
#                             each over its corpus: tests/security/
#                             test_fuzz_regress.sh)
#
# New inputs go to build/fuzz/corpus-<target>/ (not committed), crashes
# to build/fuzz/crash-<target>-*: copy a crasher into the committed
# corpus as crash-<what> once the bug is fixed.
#
# fuzz_totp also links lib/totp.c and lib/sha256.c; liboath is
# dlopen()ed at run time, as the module does.

FUZZ_CC      ?= $(shell command -v clang-14 || command -v clang || echo clang)
FUZZ_DIR     := $(O)/fuzz
FUZZ_ALL     := config addr duration state table totp
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SECONDS ?= 60
FUZZ_BIN     := $(FUZZ_ALL:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -fno-omit-frame-pointer \
		-fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -pthread -Ilib -Ihelper/firewall -Itests/fuzz
# The table is lib/table.c and its pieces, lib/table_*.c.
FUZZ_LIB_SRC := lib/addr.c lib/atomic_file.c lib/config.c lib/file_lock.c lib/hash.c \
		lib/hex.c lib/log.c lib/policy.c helper/firewall/state.c \
		$(filter-out lib/table.c,$(wildcard lib/table*.c))
FUZZ_DEP     := tests/fuzz/fuzz.h tests/fuzz/fuzz_tmp.c $(FUZZ_LIB_SRC) \
		lib/table.c $(wildcard lib/*.h helper/firewall/*.h)
.PHONY: fuzz fuzz-build

fuzz-build: $(FUZZ_BIN)

$(FUZZ_DIR)/fuzz_table: tests/fuzz/fuzz_table.c $(FUZZ_DEP)
	@mkdir -p $(FUZZ_DIR)
	@echo "  FUZZCC  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< tests/fuzz/fuzz_tmp.c \
		$(FUZZ_LIB_SRC) lib/table.c

$(FUZZ_DIR)/fuzz_totp: tests/fuzz/fuzz_totp.c $(FUZZ_DEP) lib/totp.c lib/sha256.c
	@mkdir -p $(FUZZ_DIR)
	@echo "  FUZZCC  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< tests/fuzz/fuzz_tmp.c \
		$(FUZZ_LIB_SRC) lib/table.c lib/totp.c lib/sha256.c

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DEP)
	@mkdir -p $(FUZZ_DIR)
	@echo "  FUZZCC  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< tests/fuzz/fuzz_tmp.c \
		$(FUZZ_LIB_SRC) lib/table.c

# Longest input: a table file needs its header and 64 entries (8 KB+).
fuzz: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_DIR)/corpus-$$t; \
		case $$t in table) ml=16384 ;; config) ml=8192 ;; \
			*) ml=4096 ;; esac; \
		echo "  FUZZ    $$t for $(FUZZ_SECONDS) s"; \
		$(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
			-max_len=$$ml \
			-print_final_stats=1 \
			-artifact_prefix=$(FUZZ_DIR)/crash-$$t- \
			$(FUZZ_DIR)/corpus-$$t tests/fuzz/corpus/$$t; \
	done
