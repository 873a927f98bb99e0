# clusterd - prefork server supervisor.
# make | make check | make SANITIZE=1 check | make install | make demo | make bench

PREFIX	?= /usr/local
DESTDIR	?=
BINDIR	 = $(PREFIX)/bin
MANDIR	 = $(PREFIX)/share/man
DOCDIR	 = $(PREFIX)/share/doc/clusterd
UNITDIR	?= $(PREFIX)/lib/systemd/system
COMPDIR	 = $(PREFIX)/share/bash-completion/completions

CC	?= cc
CFLAGS	?= -O2 -g
WARN	 = -std=c11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -Ithird_party/inih $(INI_DEFS)
PKGS	 = libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LIBS	 = $(PKG_LIBS) -lev -lm
# The admin endpoint's HTTP server (supervisor/admin.c).
MHD_CFLAGS := $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS   := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
PKG_CFLAGS += $(MHD_CFLAGS)
LIBS	+= $(MHD_LIBS)

# make VERSION=X BUILD=DIR: a build that calls itself clusterd X (the "new
# binary" of the upgrade tests); give it a BUILD directory of its own.
ifneq ($(VERSION),)
CPPFLAGS += -DCLUSTERD_VERSION='"$(VERSION)"'
endif

ifeq ($(SANITIZE),1)
CFLAGS	+= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS	+= -fsanitize=address,undefined
BUILD	 = build/san
else
BUILD	 = build/rel
endif

# inih r56, vendored unmodified in third_party/inih and built for
# clusterd's syntax (clusterd.conf(5) SYNTAX): whole lines of up to 4096
# bytes (plus a byte order mark and the NUL), no continuation lines, the
# line number and each new section passed to the handler.
INI_DEFS = -DINI_MAX_LINE=4100 -DINI_ALLOW_MULTILINE=0 -DINI_HANDLER_LINENO=1 \
	   -DINI_CALL_HANDLER_ON_NEW_SECTION=1 -DINI_ALLOW_BOM=1 \
	   -DINI_ALLOW_INLINE_COMMENTS=1 -DINI_STOP_ON_FIRST_ERROR=0 \
	   -DINI_ALLOW_NO_VALUE=0 -DINI_USE_STACK=1
INI_OBJ	 = $(BUILD)/third_party/inih/ini.o

SUP_SRC	 = $(wildcard supervisor/*.c)
SUP_OBJ	 = $(SUP_SRC:supervisor/%.c=$(BUILD)/supervisor/%.o) $(INI_OBJ)
# top.c is the one user of ncurses: only the binary links it.
CURSES_OBJ = $(BUILD)/supervisor/top.o
CURSES_LIBS := $(shell pkg-config --libs ncursesw 2>/dev/null || echo -lncursesw)
LIB_OBJ	 = $(filter-out $(BUILD)/supervisor/main.o $(CURSES_OBJ),$(SUP_OBJ))
WRK_SRC	 = $(wildcard worker/*.c)
WRK_OBJ	 = $(WRK_SRC:worker/%.c=$(BUILD)/worker/%.o)
UNIT_SRC = $(wildcard tests/unit/*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

all: clusterd clusterd-worker

clusterd: $(BUILD)/clusterd
	ln -sf $< $@
clusterd-worker: $(BUILD)/clusterd-worker
	ln -sf $< $@

$(BUILD)/clusterd: $(SUP_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CURSES_LIBS)
$(BUILD)/clusterd-worker: $(WRK_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/supervisor/%.o: supervisor/%.c supervisor/clusterd.h third_party/inih/ini.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<
$(BUILD)/third_party/inih/%.o: third_party/inih/%.c third_party/inih/ini.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c -o $@ $<
$(BUILD)/worker/%.o: worker/%.c $(wildcard worker/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<
$(BUILD)/tests/%: tests/unit/%.c tests/unit/check.h $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(PKG_CFLAGS) -Isupervisor $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LIBS)
# The configuration is pure: its test links nothing of the running master.
CONFIG_OBJ = $(patsubst %,$(BUILD)/supervisor/%.o,config value cpus) $(INI_OBJ)
$(BUILD)/tests/test_config: tests/unit/test_config.c $(CONFIG_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $(PKG_CFLAGS) -Isupervisor $(LDFLAGS) -o $@ $< $(CONFIG_OBJ) -lm

units: $(UNIT_BIN)

deps:
	@scripts/install-deps

# The README's test command: installs what it needs, builds, runs everything.
# The tests run this BUILD's binaries, not the ./clusterd link, so that
# `make check` and `make SANITIZE=1 check` can run side by side (CI does).
check: deps
	$(MAKE) all units
	CLUSTERD_BIN=$(CURDIR)/$(BUILD)/clusterd \
	WORKER_BIN=$(CURDIR)/$(BUILD)/clusterd-worker \
	BUILD=$(BUILD) tests/run $(TESTS)

# The demo cluster in the foreground: the reference worker, one per CPU.
demo: deps
	$(MAKE) all
	@echo "demo: one reference worker per CPU on 127.0.0.1:8080"
	@echo "demo: try   curl -i http://127.0.0.1:8080/   or   ./clusterd status conf/demo.conf"
	@echo "demo: reload with   kill -HUP <master pid>   or   ./clusterd reload conf/demo.conf"
	@echo "demo: stop with Ctrl-C (SIGINT: graceful stop)"
	./clusterd run conf/demo.conf

# The Debian package, built from a copy of the tree in build/deb, lintian
# clean; the .deb is copied here: apt install ./clusterd_VERSION_amd64.deb
deb:
	@scripts/install-deps deb
	rm -rf build/deb
	scripts/deb-build build/deb
	cp build/deb/clusterd_*.deb .
.PHONY: deb

check-systemd: all
	BUILD=$(BUILD) tests/real-systemd/run.sh

-include mk/fuzz.mk

bench: deps all
	scripts/bench
	scripts/bench-surge

# real servers under clusterd: the table of clusterd.8 SERVERS
bench-servers: deps all
	scripts/bench-servers

lint-man:
	mandoc -Tlint -Wwarning man/clusterd.8 man/clusterd.conf.5

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(COMPDIR)
	install -m 755 $(BUILD)/clusterd $(DESTDIR)$(BINDIR)/clusterd
	install -m 755 $(BUILD)/clusterd-worker $(DESTDIR)$(BINDIR)/clusterd-worker
	install -m 644 man/clusterd.8 $(DESTDIR)$(MANDIR)/man8/clusterd.8
	install -m 644 man/clusterd.conf.5 $(DESTDIR)$(MANDIR)/man5/clusterd.conf.5
	install -m 644 conf/example.conf $(DESTDIR)$(DOCDIR)/example.conf
	for u in scripts/*.service scripts/*.socket; do [ -f "$$u" ] || continue; \
	    sed 's|@BINDIR@|$(BINDIR)|g' "$$u" > $(DESTDIR)$(UNITDIR)/$$(basename $$u); done
	[ ! -f scripts/clusterd.bash-completion ] || \
	    install -m 644 scripts/clusterd.bash-completion $(DESTDIR)$(COMPDIR)/clusterd

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/clusterd $(DESTDIR)$(BINDIR)/clusterd-worker \
	    $(DESTDIR)$(MANDIR)/man8/clusterd.8 $(DESTDIR)$(MANDIR)/man5/clusterd.conf.5 \
	    $(DESTDIR)$(DOCDIR)/example.conf $(DESTDIR)$(COMPDIR)/clusterd
	for u in scripts/*.service scripts/*.socket; do [ -f "$$u" ] || continue; \
	    rm -f $(DESTDIR)$(UNITDIR)/$$(basename $$u); done

clean:
	rm -rf build clusterd clusterd-worker
	rm -f clusterd_*.deb

.PHONY: all units deps check check-systemd demo bench bench-servers lint-man install uninstall clean \
	clusterd clusterd-worker	# the links follow BUILD (SANITIZE=1 or not)
