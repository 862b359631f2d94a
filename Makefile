# pam_vpsguard -- plain GNU make.  `make help` lists the targets.
#
# make test and make demo install their Debian build dependencies first
# (apt-get, needs root) and run as root: they create network and mount
# namespaces and a private /etc/pam.d view.  make / make install do not
# install packages.

PREFIX     ?= /usr
DESTDIR    ?=
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share/pam_vpsguard
SYSCONFDIR ?= /etc
UNITDIR    ?= /lib/systemd/system
TMPFILESDIR ?= /usr/lib/tmpfiles.d
PKG_CONFIG ?= pkg-config

# Debian: pkg-config's libdir/security; RHEL-family: /usr/lib64/security.
PAMDIR ?= $(shell d=$$($(PKG_CONFIG) --variable=libdir pam 2>/dev/null); \
	if [ -n "$$d" ]; then echo "$$d/security"; \
	elif [ -d /usr/lib64/security ]; then echo /usr/lib64/security; \
	else echo /lib/security; fi)

CC      ?= cc
AR      ?= ar

# Build products go to $(O) (default build/), never beside the sources.
O ?= build

# The project's flags live in VG_* variables.  CFLAGS, CPPFLAGS and
# LDFLAGS from the command line or the environment (dpkg-buildflags) add
# to them, placed last so that they win where they conflict (-O0); they
# never replace the warnings, the hardening or -fvisibility=hidden.
CFLAGS  ?= -O2 -g
WERROR  ?= 0
cc-has = $(shell $(CC) -Werror $(1) -E -x c /dev/null >/dev/null 2>&1 && echo $(1))
VG_WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
	   -Wmissing-prototypes
ifeq ($(WERROR),1)
VG_WARN += -Werror
endif
VG_HARDEN := -fstack-protector-strong -fPIC \
	     $(call cc-has,-fstack-clash-protection) \
	     $(call cc-has,-fcf-protection)
VG_CFLAGS := -std=gnu11 $(VG_WARN) $(VG_HARDEN) -fvisibility=hidden \
	     -pthread -MMD -MP
# What may include what (README, "What may call what"): lib/ and the
# module see lib/'s headers only, set per target below, so a helper
# header used by code that sshd loads fails to compile.
VG_INC      = -Ilib -Ihelper -Ihelper/firewall -Ihelper/fleet -Ihelper/sshd \
	      -Ihelper/sys
VG_CPPFLAGS  = $(VG_INC)
# _FORTIFY_SOURCE once: a distribution's CPPFLAGS may already define it
# (=3 on Debian 13), and glibc warns about it at -O0.
ifeq ($(findstring _FORTIFY_SOURCE,$(CPPFLAGS) $(CFLAGS)),)
ifeq ($(findstring -O0,$(CFLAGS)),)
VG_CPPFLAGS += -D_FORTIFY_SOURCE=2
endif
endif
VG_LDFLAGS := -Wl,-z,relro -Wl,-z,now -pthread

ALL_CPPFLAGS = $(VG_CPPFLAGS) $(CPPFLAGS)
ALL_CFLAGS   = $(VG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS  = $(VG_LDFLAGS) $(LDFLAGS)

ifeq ($(V),1)
Q =
else
Q = @
endif

# lib/: what the module and the helper share (the module links only
# what it uses of it: --gc-sections).
LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(O)/%.o)
LIB     := $(O)/lib/libvpsguard.a

MODULE     := $(O)/pam_vpsguard.so
MODULE_SRC := $(wildcard pam_module/*.c)
MODULE_OBJ := $(MODULE_SRC:pam_module/%.c=$(O)/module/%.o)
# The module is built apart from the helper, for size: libpam dlopen()s
# it per connection, and each KiB it maps costs ~0.85 us per load on a
# virtualised host, untouched or not (bench/README.md, "The module built
# for size").  -Os, no unwind tables (C, no exceptions; the debugger
# uses .debug_frame) and --gc-sections take the mapping from 80 to 56
# KiB: 20-40 us less per authentication.  These come after CFLAGS:
# MODULE_CFLAGS= gives the module the same flags as the rest (make
# test-asan does).
MODULE_CFLAGS ?= -Os -ffunction-sections -fdata-sections \
	-fno-asynchronous-unwind-tables -fno-unwind-tables
# -nostartfiles: the C runtime's start files are for programs and for
# C++; the module has no constructor, no atexit and no transactional
# memory, and what they add is four weak symbols (_ITM_*, __gmon_start__,
# __cxa_finalize) that ld.so must look up in every library of sshd's
# global scope on each load, and fail to find: 3-4 us per connection,
# as much as all our ~75 real imports.  Without them the module is also
# marked IBT/SHSTK (Debian's crti.o is not, which cleared the mark).
MODULE_LDFLAGS ?= -nostartfiles
MODULE_LIB_OBJ := $(LIB_SRC:lib/%.c=$(O)/module/lib/%.o)
MODULE_LIB     := $(O)/module/libvpsguard-module.a
$(LIB_OBJ) $(MODULE_OBJ) $(MODULE_LIB_OBJ): VG_INC = -Ilib

# helper/: pam_vpsguard-admin's verbs, and one archive per subsystem.
ADMIN      := $(O)/pam_vpsguard-admin
ADMIN_SRC  := $(wildcard helper/*.c)
ADMIN_OBJ  := $(ADMIN_SRC:%.c=$(O)/%.o)
SUBSYSTEMS := firewall fleet sshd sys
SUB_OBJ     = $(patsubst %.c,$(O)/%.o,$(wildcard helper/$(1)/*.c))
SUB_LIBS   := $(foreach s,$(SUBSYSTEMS),$(O)/helper/lib$(s).a)
HELPER_OBJ := $(foreach s,$(SUBSYSTEMS),$(call SUB_OBJ,$(s)))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:%.c=$(O)/%)
PAMT_SRC := $(wildcard tests/pam/test_*.c)
PAMT_BIN := $(PAMT_SRC:%.c=$(O)/%)
# tests/adversary (issue 14): the attacker's PAM driver and the test-only
# stand-in for pam_unix its floods use.
ADV_BIN := $(O)/tests/adversary/vg_adversary $(O)/tests/adversary/pam_vgpass.so
BENCH_SRC := $(filter-out bench/pam_null.c,$(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:%.c=$(O)/%) $(O)/bench/pam_null.so

# Only the helper talks to the kernel firewall; the module never links it.
ADMIN_LIBS = $(shell $(PKG_CONFIG) --libs libnftnl libmnl libqrencode libcurl json-c 2>/dev/null)
# What a unit test links beyond the archives: the verb-level objects it
# tests (helper/*.o are in no archive), and their libraries.
UNIT_OBJS_test_totp := $(O)/helper/totp_enrol.o
UNIT_LIBS_test_crowdsec = $(shell $(PKG_CONFIG) --libs json-c 2>/dev/null)
BENCH_LIBS_bench_wake = $(shell $(PKG_CONFIG) --libs libnftnl libmnl 2>/dev/null)

DEPS := $(LIB_OBJ:.o=.d) $(MODULE_OBJ:.o=.d) $(MODULE_LIB_OBJ:.o=.d) \
	$(ADMIN_OBJ:.o=.d) $(HELPER_OBJ:.o=.d) \
	$(UNIT_BIN:=.d) $(PAMT_BIN:=.d) $(BENCH_BIN:=.d) $(ADV_BIN:=.d) \
	$(O)/tests/nft/nftctl.d $(O)/tests/fleet/vg_sandbox.d

.PHONY: all deps need-root check-deps check test demo bench \
	install uninstall clean help deb test-debian13

all: check-deps $(MODULE) $(ADMIN)

help:
	@echo "make            build build/pam_vpsguard.so and build/pam_vpsguard-admin"
	@echo "                (O=dir: another build directory; WERROR=1: warnings are errors)"
	@echo "make check      unit and PAM-level tests: any user, no apt (deps installed)"
	@echo "make deps       install the Debian packages the build and tests need (root)"
	@echo "make test       deps + build + every test (root)"
	@echo "make demo       deps + build + a sandboxed sshd under brute force (root)"
	@echo "make bench      deps + build + benchmarks (root)"
	@echo "make test-asan  the suites against an ASan + UBSan build (root)"
	@echo "make fuzz       libFuzzer targets, FUZZ_SECONDS each (default 60)"
	@echo "make lint       cppcheck + clang-tidy"
	@echo "make install    install into DESTDIR/PREFIX (PAMDIR=$(PAMDIR))"
	@echo "make deb       pam-vpsguard_VERSION_ARCH.deb (dpkg-buildpackage, lintian)"
	@echo "make test-debian13  build, install and test the package in a Debian 13 root (root)"

# Checked at parse time of the build targets only: `make deps` must work
# on a machine that has none of them yet.
check-deps:
	@# pam: the header below (Debian 13's pam.pc requires audit.pc, which
	@# libpam0g-dev does not pull in, so `pkg-config --exists pam` fails there).
	@for p in libnftnl libmnl liboath libqrencode libcurl json-c; do $(PKG_CONFIG) --exists $$p 2>/dev/null || \
		{ echo "missing build dependency: $$p development files (run 'make deps' as root)" >&2; exit 1; }; done
	@test -f /usr/include/security/pam_modules.h || \
		{ echo "missing build dependency: libpam0g-dev (run 'make deps' as root)" >&2; exit 1; }

deps:
	@./tests/deps.sh

# The tests and the demo create network and mount namespaces and a
# private /etc/pam.d view: they need root (sudo is not assumed).
need-root:
	@[ "$$(id -u)" -eq 0 ] || { echo "make $(MAKECMDGOALS): needs root (network/mount namespaces, apt-get); run it as root" >&2; exit 1; }

$(LIB): $(LIB_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(O)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# VG_IN_MODULE: what only the helper uses is left out of the module's
# copy of lib/ (lib/config.c: the CrowdSec keys are not judged there).
$(O)/module/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CPPFLAGS) -DVG_IN_MODULE $(ALL_CFLAGS) $(MODULE_CFLAGS) -c -o $@ $<

$(O)/module/%.o: pam_module/%.c
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(MODULE_CFLAGS) -c -o $@ $<

$(MODULE_LIB): $(MODULE_LIB_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(MODULE): $(MODULE_OBJ) $(MODULE_LIB) pam_module/pam_vpsguard.map
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(MODULE_CFLAGS) -shared -o $@ $(MODULE_OBJ) \
		$(MODULE_LIB) $(ALL_LDFLAGS) $(MODULE_LDFLAGS) -Wl,--gc-sections \
		-Wl,--version-script=pam_module/pam_vpsguard.map -Wl,-z,defs -lpam

# Made through a pattern rule, so make would take them for intermediate
# files and delete them after each build (and rebuild them all next time).
.SECONDARY: $(HELPER_OBJ)
.SECONDEXPANSION:
$(O)/helper/lib%.a: $$(call SUB_OBJ,%)
	@echo "  AR      $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# The subsystems may call each other (fleet stores in firewall's state
# file): one group, in any order.
$(ADMIN): $(ADMIN_OBJ) $(SUB_LIBS) $(LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -pie -o $@ $(ADMIN_OBJ) -Wl,--start-group \
		$(SUB_LIBS) $(LIB) -Wl,--end-group $(ALL_LDFLAGS) $(ADMIN_LIBS)

$(O)/tests/unit/test_%: tests/unit/test_%.c $$(UNIT_OBJS_test_%) $(SUB_LIBS) $(LIB)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< \
		$(UNIT_OBJS_$(notdir $@)) -Wl,--start-group \
		$(SUB_LIBS) $(LIB) -Wl,--end-group $(ALL_LDFLAGS) -lcmocka \
		$(UNIT_LIBS_$(notdir $@))

$(O)/tests/pam/test_%: tests/pam/test_%.c $(LIB) $(MODULE)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LIB) $(ALL_LDFLAGS) \
		-lcmocka -lpam -ldl

# Defines syslog() for libpam to call (-rdynamic), like tests/security/vg_*.
$(O)/tests/adversary/vg_adversary: tests/adversary/vg_adversary.c $(MODULE)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -rdynamic -o $@ $< $(ALL_LDFLAGS) -lpam

$(O)/tests/adversary/pam_vgpass.so: tests/adversary/pam_vgpass.c pam_module/pam_vpsguard.map
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -shared -o $@ $< $(ALL_LDFLAGS) \
		-Wl,--version-script=pam_module/pam_vpsguard.map -Wl,-z,defs -lpam

# The nftables test driver (tests/nft/test_nft.sh, bench/bench_nft.sh).
NFTCTL := $(O)/tests/nft/nftctl
$(NFTCTL): tests/nft/nftctl.c $(SUB_LIBS) $(LIB)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< -Wl,--start-group \
		$(SUB_LIBS) $(LIB) -Wl,--end-group $(ALL_LDFLAGS) \
		$(shell $(PKG_CONFIG) --libs libnftnl libmnl 2>/dev/null)

# The unit's seccomp filter where systemd is not PID 1 (tests/fleet).
SANDBOX := $(O)/tests/fleet/vg_sandbox
$(SANDBOX): tests/fleet/vg_sandbox.c
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(ALL_LDFLAGS) -lseccomp

tests-bin: $(ADV_BIN) $(NFTCTL) $(SANDBOX)

# The floor row of bench_pam: a do-nothing module built like ours.
$(O)/bench/pam_null.so: bench/pam_null.c pam_module/pam_vpsguard.map
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(MODULE_CFLAGS) -shared -o $@ $< \
		$(ALL_LDFLAGS) $(MODULE_LDFLAGS) -Wl,--gc-sections \
		-Wl,--version-script=pam_module/pam_vpsguard.map -Wl,-z,defs -lpam

$(O)/bench/%: bench/%.c $(SUB_LIBS) $(LIB) $(MODULE)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< -Wl,--start-group \
		$(SUB_LIBS) $(LIB) -Wl,--end-group $(ALL_LDFLAGS) -lpam \
		$(BENCH_LIBS_$(notdir $@))

# The tests a developer runs without root and without apt: the unit
# tests and the module through Linux-PAM in a private pam_start_confdir
# directory.  Any user, the build dependencies installed (make deps).
check: all $(UNIT_BIN) $(PAMT_BIN)
	./tests/check.sh

test: need-root deps
	$(MAKE) all $(UNIT_BIN) $(PAMT_BIN) $(ADV_BIN) $(BENCH_BIN) tests-bin fuzz-build
	./tests/run.sh

demo: need-root deps
	$(MAKE) all
	./tests/e2e/demo.sh

bench: need-root deps
	@VG_BENCH_DEPS=1 ./tests/deps.sh
	$(MAKE) all $(BENCH_BIN) $(ADV_BIN)
	./bench/run.sh
	./bench/compare.sh

install: all
	install -d -m 755 $(DESTDIR)$(PAMDIR) $(DESTDIR)$(SBINDIR) \
		$(DESTDIR)$(DATADIR) $(DESTDIR)$(SYSCONFDIR)/security
	install -m 644 $(MODULE) $(DESTDIR)$(PAMDIR)/pam_vpsguard.so
	install -m 755 $(ADMIN) $(DESTDIR)$(SBINDIR)/pam_vpsguard-admin
	install -m 644 sshd_snippets/* $(DESTDIR)$(DATADIR)/
	install -d -m 755 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 644 man/pam_vpsguard.8 man/pam_vpsguard-admin.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 man/vpsguard.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 dist/pam-vpsguard.service $(DESTDIR)$(UNITDIR)/pam-vpsguard.service
	install -m 644 dist/pam-vpsguard.tmpfiles $(DESTDIR)$(TMPFILESDIR)/pam-vpsguard.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/security/vpsguard.conf || \
		install -m 644 pam_module/vpsguard.conf $(DESTDIR)$(SYSCONFDIR)/security/vpsguard.conf

# The Debian package, built in a copy under build/deb/ and copied here.
deb:
	./tools/mkdeb.sh

# The package built, installed and tested inside a cached Debian 13
# (trixie) root; also part of make test (tests/run.sh).
test-debian13: need-root
	@./tests/deps.sh
	bash tests/debian13/test_debian13.sh

# The configuration file is the admin's: uninstall leaves it.
uninstall:
	rm -f $(DESTDIR)$(PAMDIR)/pam_vpsguard.so $(DESTDIR)$(SBINDIR)/pam_vpsguard-admin
	rm -f $(DESTDIR)$(MANDIR)/man8/pam_vpsguard.8 $(DESTDIR)$(MANDIR)/man8/pam_vpsguard-admin.8 \
		$(DESTDIR)$(MANDIR)/man5/vpsguard.conf.5 \
		$(DESTDIR)$(UNITDIR)/pam-vpsguard.service $(DESTDIR)$(TMPFILESDIR)/pam-vpsguard.conf
	rm -rf $(DESTDIR)$(DATADIR)

clean:
	rm -rf $(O) build
	rm -f pam-vpsguard_*.deb

# Hardening (issue 8): fuzz targets, sanitizer suite, static analysis.
include tests/fuzz/fuzz.mk
include tests/security/security.mk

-include $(DEPS) $(SEC_BIN:=.d)
