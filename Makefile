# SPDX-License-Identifier: BSD-3-Clause
# portguard: libbpf-bootstrap-shaped build.
#   make            build build/portguard and build/pg-demo
#   make deps       install the missing Debian packages (nothing when all present)
#   make test       unit (cmocka) + end-to-end (root, real BPF) tests
#   make demo       run the demo on examples/trading.conf
#   make SAN=1 test the same tests with ASan+UBSan builds
#   V=1             show the full commands
OUTPUT := build
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= gcc
ARCH := $(shell uname -m | sed 's/x86_64/x86/' | sed 's/aarch64/arm64/')
VMLINUX := vmlinux/$(ARCH)/vmlinux.h
# libsystemd (sd_notify) where it is installed (deps installs it on Debian);
# the build works without it. Deferred (=): looked at after `deps` ran.
HAVE_SYSTEMD = $(shell pkg-config --exists libsystemd && echo y)
PKGS = libbpf libelf zlib json-c $(if $(HAVE_SYSTEMD),libsystemd)
DEB_PKGS := clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool libcmocka-dev \
	libjson-c-dev libsystemd-dev mandoc pkg-config python3 iproute2 procps make gcc

CFLAGS := -std=gnu11 -g -O2 -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
	-Wstrict-prototypes -D_GNU_SOURCE \
	-DPG_VERSION='"$(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)"'
# the packager's flags (debian/rules: dpkg-buildflags), after ours
CFLAGS += $(PKG_CFLAGS)
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -O1
LDFLAGS += -fsanitize=address,undefined
OUTPUT := build-san
# ASan keeps 256 MiB of freed memory by default: the tests that bound the
# guard's memory would measure that quarantine, not the guard
export ASAN_OPTIONS ?= quarantine_size_mb=16
endif
# LAYOUT_NEXT=1: tests only, a build whose pinned layout grew (the upgrade
# tests: tests/e2e/test_upgrade.py, make vmtest); `make test` builds it.
ifeq ($(LAYOUT_NEXT),1)
CFLAGS += -DPG_LAYOUT_NEXT
OUTPUT := build-next
endif
INCLUDES := -I$(OUTPUT) -Iinclude -Iuser
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-I$(dir $(VMLINUX)) -Iinclude $(if $(filter 1,$(LAYOUT_NEXT)),-DPG_LAYOUT_NEXT)

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
# Modules without main(): linked into portguard and into the unit tests.
LIB_SRCS := $(filter-out user/main.c,$(wildcard user/*.c))
LIB_OBJS := $(patsubst user/%.c,$(OUTPUT)/%.o,$(LIB_SRCS))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/%,$(UNIT_SRCS))
# libFuzzer harnesses (tests/fuzz/fuzz-NAME.c, corpus tests/fuzz/NAME/): `make test`
# replays each corpus through a plain driver; `make fuzz` runs libFuzzer on them.
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz-%.c,%,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_REPLAYS := $(patsubst %,$(OUTPUT)/replay-%,$(FUZZ_NAMES))
FUZZ_OUT := build-fuzz
FUZZ_SECONDS ?= 60
# what the harnesses link: the parsers and what they call, built by clang for libFuzzer
FUZZ_LIB := config control loop log fs encode event status claims diag proc cgroup svcnotify
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -fsanitize=fuzzer-no-link,address,undefined \
	-fno-omit-frame-pointer -Iinclude -Iuser
LIBS = $(shell pkg-config --libs $(PKGS))

.DELETE_ON_ERROR:
.SECONDARY: $(BPF_OBJS) $(SKELS)
.PHONY: all deps test unit e2e demo clean bench vmtest fuzz install uninstall deb

# make install / uninstall: GNU-style directories; DESTDIR for staging (packages).
PREFIX ?= /usr/local
sbindir ?= $(PREFIX)/sbin
mandir ?= $(PREFIX)/share/man
sysconfdir ?= /etc
docdir ?= $(PREFIX)/share/doc/portguard
systemdunitdir ?= $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),\
	/lib/systemd/system)
MANPAGES := $(wildcard docs/*.[58])

all: deps $(OUTPUT)/portguard $(OUTPUT)/pg-demo

deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
			|| missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "  DEPS     installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing \
			>/dev/null || { echo "deps: apt-get install$$missing failed" >&2; exit 1; }; \
	fi

$(OUTPUT):
	$(Q)mkdir -p $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c include/portguard.h $(wildcard bpf/*.bpf.h) $(VMLINUX) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp.o
	$(Q)$(BPFTOOL) gen object $@ $@.tmp.o
	$(Q)rm -f $@.tmp.o

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

$(OUTPUT)/%.o: user/%.c $(wildcard user/*.h) include/portguard.h $(SKELS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(if $(HAVE_SYSTEMD),-DHAVE_SYSTEMD) $(INCLUDES) \
		$(shell pkg-config --cflags $(PKGS)) -c $< -o $@

$(OUTPUT)/portguard: $(OUTPUT)/main.o $(LIB_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDFLAGS) $(LIBS) -o $@

$(OUTPUT)/pg-demo: examples/pg-demo.c | $(OUTPUT)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $(if $(HAVE_SYSTEMD),-DHAVE_SYSTEMD) $< $(LDFLAGS) \
		$(if $(HAVE_SYSTEMD),$(shell pkg-config --libs libsystemd)) -o $@

$(OUTPUT)/test_%: tests/unit/test_%.c $(LIB_OBJS)
	$(call msg,UNIT,$@)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) $< $(LIB_OBJS) $(LDFLAGS) $(LIBS) \
		$(shell pkg-config --cflags --libs cmocka) -o $@

$(OUTPUT)/replay-%: tests/fuzz/fuzz-%.c tests/fuzz/replay.c $(LIB_OBJS)
	$(call msg,REPLAY,$@)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) $(shell pkg-config --cflags $(PKGS)) $^ $(LDFLAGS) \
		$(LIBS) -o $@

unit: deps $(UNIT_BINS) $(FUZZ_REPLAYS)

$(FUZZ_OUT)/%.o: user/%.c $(wildcard user/*.h) | $(FUZZ_OUT)
	$(call msg,CC-FUZZ,$@)
	$(Q)clang $(FUZZ_CFLAGS) $(shell pkg-config --cflags $(PKGS)) -c $< -o $@

$(FUZZ_OUT)/fuzz-%: tests/fuzz/fuzz-%.c $(patsubst %,$(FUZZ_OUT)/%.o,$(FUZZ_LIB))
	$(call msg,FUZZER,$@)
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ $(LIBS) -o $@

$(FUZZ_OUT):
	$(Q)mkdir -p $@

# Not part of `make test`: each fuzzer for FUZZ_SECONDS; what crashes is kept
# in its corpus directory (crash-*), which `make test` then replays for ever.
fuzz: deps
	$(Q)dpkg-query -W -f='$${Status}\n' libclang-rt-14-dev 2>/dev/null | grep -q \
		'^install ok installed' || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq libclang-rt-14-dev >/dev/null; }
	$(Q)$(MAKE) -s $(patsubst %,$(FUZZ_OUT)/fuzz-%,$(FUZZ_NAMES))
	$(Q)for n in $(FUZZ_NAMES); do \
		mkdir -p $(FUZZ_OUT)/corpus-$$n; \
		echo "  FUZZ     $$n for $(FUZZ_SECONDS) s"; \
		$(FUZZ_OUT)/fuzz-$$n -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 \
			-artifact_prefix=tests/fuzz/$$n/ -print_final_stats=1 \
			$(FUZZ_OUT)/corpus-$$n tests/fuzz/$$n 2>&1 | \
			grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|artifact)' ; \
	done
test: all unit
	$(Q)$(MAKE) --no-print-directory LAYOUT_NEXT=1 build-next/portguard
	$(Q)./tests/test-deps
	$(Q)OUTPUT=$(OUTPUT) PORTGUARD_NEXT=$(CURDIR)/build-next/portguard ./tests/run

demo: all
	$(Q)./scripts/demo

# Not part of `make test`. supervisor is the baseline of the restart benchmarks,
# nginx and redis-server the real servers of one: tests/test-deps installs them
# (when missing) with their own Debian services held off.
bench: all
	$(Q)./tests/test-deps
	$(Q)python3 bench/run.py

# Not part of `make test`: make test + make demo in qemu guests on Debian's
# kernels (KERNELS="bullseye bookworm trixie"); writes docs/kernels.md.
vmtest:
	$(Q)KERNELS="$(KERNELS)" ./tests/vm/vmtest

# The binary, the seed's interface as portguard-restart, the man pages, and
# the commented example (never over an existing file: it is an example).
install: $(OUTPUT)/portguard
	$(call msg,INSTALL,$(DESTDIR)$(sbindir)/portguard)
	$(Q)install -d $(DESTDIR)$(sbindir) $(DESTDIR)$(docdir) $(DESTDIR)$(sysconfdir)/portguard
	$(Q)install -m 0755 $(OUTPUT)/portguard $(DESTDIR)$(sbindir)/portguard
	$(Q)sed 's|^pg=$${PORTGUARD:-}$$|pg=$${PORTGUARD:-$(sbindir)/portguard}|' scripts/restart \
		> $(DESTDIR)$(sbindir)/portguard-restart.tmp
	$(Q)chmod 0755 $(DESTDIR)$(sbindir)/portguard-restart.tmp
	$(Q)mv $(DESTDIR)$(sbindir)/portguard-restart.tmp $(DESTDIR)$(sbindir)/portguard-restart
	$(Q)for m in $(MANPAGES); do s=$${m##*.}; install -d $(DESTDIR)$(mandir)/man$$s; \
		install -m 0644 $$m $(DESTDIR)$(mandir)/man$$s/; done
	$(Q)install -d $(DESTDIR)$(systemdunitdir)
	$(Q)sed 's|@SBINDIR@|$(sbindir)|g' contrib/systemd/portguard@.service \
		> $(DESTDIR)$(systemdunitdir)/portguard@.service
	$(Q)chmod 0644 $(DESTDIR)$(systemdunitdir)/portguard@.service
	$(Q)install -m 0644 examples/trading.conf $(DESTDIR)$(docdir)/trading.conf.example
	$(Q)[ -e $(DESTDIR)$(sysconfdir)/portguard/trading.conf.example ] || \
		install -m 0644 examples/trading.conf $(DESTDIR)$(sysconfdir)/portguard/trading.conf.example

# Everything install put there, nothing else (a config of the user's stays).
uninstall:
	$(call msg,UNINSTALL,$(DESTDIR)$(sbindir)/portguard)
	$(Q)rm -f $(DESTDIR)$(sbindir)/portguard $(DESTDIR)$(sbindir)/portguard-restart \
		$(DESTDIR)$(systemdunitdir)/portguard@.service
	$(Q)for m in $(MANPAGES); do s=$${m##*.}; rm -f $(DESTDIR)$(mandir)/man$$s/$${m##*/}; done
	$(Q)rm -f $(DESTDIR)$(docdir)/trading.conf.example \
		$(DESTDIR)$(sysconfdir)/portguard/trading.conf.example
	$(Q)rmdir $(DESTDIR)$(docdir) $(DESTDIR)$(sysconfdir)/portguard 2>/dev/null || true

# A Debian package (debhelper) of the tree as it is, built in build/deb/ and
# checked with lintian: build/deb/portguard_VERSION_ARCH.deb.
DEB_VERSION = $(shell dpkg-parsechangelog -S Version 2>/dev/null)
# DEB_NEXT=1 (tests only: tests/vm/package-check): version V+next1, built with
# PG_LAYOUT_NEXT, a pinned layout that grew, in $(OUTPUT)/deb-next.
DEB_OUT = $(OUTPUT)/deb$(if $(DEB_NEXT),-next)
deb: deps
	$(Q)missing=""; for p in debhelper lintian dpkg-dev fakeroot; do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
			|| missing="$$missing $$p"; done; \
	[ -z "$$missing" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq $$missing >/dev/null; }
	$(Q)rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)/portguard-$(DEB_VERSION)
	$(Q)git ls-files -z | xargs -0 cp --parents -t $(DEB_OUT)/portguard-$(DEB_VERSION)
	$(Q)if [ -n "$(DEB_NEXT)" ]; then cd $(DEB_OUT)/portguard-$(DEB_VERSION) && \
		sed -i '1s/)/+next1)/' debian/changelog && \
		sed -i 's|^#define PORTGUARD_H$$|&\n#define PG_LAYOUT_NEXT 1 /* make deb DEB_NEXT=1 */|' \
		include/portguard.h; fi
	$(call msg,DEB,$(DEB_OUT))
	$(Q)cd $(DEB_OUT)/portguard-$(DEB_VERSION) && \
		env -u SAN -u LAYOUT_NEXT -u MAKEFLAGS -u MAKELEVEL -u MFLAGS dpkg-buildpackage -us -uc -b >../build.log 2>&1 || { tail -30 ../build.log; exit 1; }
	$(Q)cd $(DEB_OUT) && lintian --fail-on error,warning *.changes && ls *.deb

clean:
	$(call msg,CLEAN)
	$(Q)rm -rf build build-san build-next build-fuzz
