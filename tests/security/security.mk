# Hardening targets (issue 8), included by the top Makefile.
#
#   make lint        cppcheck + clang-tidy (.clang-tidy) over lib/,
#                    pam_module/, helper/; make test runs it too
#                    (tests/security/test_static.sh)
#   make test-asan   ASan + UBSan build in build/asan/ and the unit,
#                    pam, pamtester, cli and security suites against it
#                    (tests/security/asan.sh says what runs and how)

.PHONY: lint test-asan tests-bin

lint:
	./tests/security/lint.sh

SEC_SRC := $(wildcard tests/security/vg_*.c)
SEC_BIN := $(SEC_SRC:%.c=$(O)/%)

# Every test executable (asan.sh builds these in its copy).
tests-bin: $(UNIT_BIN) $(PAMT_BIN) $(SEC_BIN)

# Defines syslog() for libpam to call: exported despite
# -fvisibility=hidden (the attribute in the source) and -rdynamic.
$(O)/tests/security/vg_%: tests/security/vg_%.c $(MODULE)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -rdynamic -o $@ $< $(ALL_LDFLAGS) -lpam

test-asan: need-root deps
	./tests/security/asan.sh
