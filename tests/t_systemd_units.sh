#!/usr/bin/env bash
# The systemd units as `make install` installs them: @BINDIR@ substituted,
# and `systemd-analyze verify` (which checks every key, the ExecStart=
# binaries and the Documentation= man pages) accepts them with no warning.
# Type=notify-reload needs systemd >= 253: on an older one that unit is
# verified with the type it knows, and the test says so.
. "$(dirname "$0")/lib.sh"

command -v systemd-analyze >/dev/null || skip "systemd-analyze missing"
DEST=$T/root
UNITS=$DEST/usr/lib/systemd/system

make -s -C "$ROOT" -o all install DESTDIR="$DEST" PREFIX=/usr \
	BUILD="${BUILD:-build/rel}" >"$T/install.log" 2>&1 ||
	fail "make install: $(tail -5 "$T/install.log")"
for u in clusterd@.service clusterd-notify-reload@.service \
    clusterd-example.socket clusterd-example.service; do
	[ -f "$UNITS/$u" ] || fail "$u not installed in $UNITS: $(ls "$UNITS")"
	! grep -q '@BINDIR@' "$UNITS/$u" || fail "$u: @BINDIR@ left"
done
grep -q '^ExecStart=/usr/bin/clusterd run /etc/clusterd/%i.conf$' \
	"$UNITS/clusterd@.service" || fail "ExecStart: $(grep ExecStart "$UNITS/clusterd@.service")"
grep -q '^ExecReload=/usr/bin/clusterd reload /etc/clusterd/%i.conf$' \
	"$UNITS/clusterd@.service" || fail "ExecReload: $(grep ExecReload "$UNITS/clusterd@.service")"
[ -x "$DEST/usr/bin/clusterd" ] || fail "clusterd not installed"

# verify resolves the units' dependencies (sysinit.target, ...) inside the
# root: give it the host's own units beside ours. Man pages are looked up
# by the host's man(1), which MANPATH points at the installed ones.
cp -an /lib/systemd/system/. "$UNITS/" 2>/dev/null ||
	cp -an /usr/lib/systemd/system/. "$UNITS/"
verify() {
	(cd "$DEST" && MANPATH=$DEST/usr/share/man SYSTEMD_LOG_COLOR=0 \
		systemd-analyze verify --root="$DEST" "$@") >"$T/verify.out" 2>&1
	local rc=$?
	[ "$rc" -eq 0 ] && [ ! -s "$T/verify.out" ]
}

verify clusterd@demo.service clusterd-example.socket clusterd-example.service ||
	fail "systemd-analyze verify: $(cat "$T/verify.out")"

version=$(systemctl --version 2>/dev/null | awk 'NR == 1 { print $2 }')
if [ "${version:-0}" -ge 253 ]; then
	verify clusterd-notify-reload@demo.service ||
		fail "systemd-analyze verify (notify-reload): $(cat "$T/verify.out")"
else
	note "systemd $version < 253 knows no Type=notify-reload:" \
		"verifying clusterd-notify-reload@.service as Type=notify"
	sed -e 's/^Type=notify-reload$/Type=notify/' -e '/^ReloadSignal=/d' \
		"$UNITS/clusterd-notify-reload@.service" >"$UNITS/clusterd-nr-as-notify@.service"
	grep -q '^Type=notify$' "$UNITS/clusterd-nr-as-notify@.service" ||
		fail "clusterd-notify-reload@.service has no Type=notify-reload"
	verify clusterd-nr-as-notify@demo.service ||
		fail "systemd-analyze verify (notify-reload as notify): $(cat "$T/verify.out")"
fi

# The check itself bites: a unit whose ExecStart binary is missing fails.
sed 's|^ExecStart=/usr/bin/clusterd |ExecStart=/usr/bin/clusterd-missing |' \
	"$UNITS/clusterd@.service" >"$UNITS/clusterd-broken@.service"
! verify clusterd-broken@demo.service || fail "verify accepted a missing ExecStart binary"
grep -q "clusterd-missing" "$T/verify.out" || fail "verify: $(cat "$T/verify.out")"
exit 0
