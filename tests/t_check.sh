#!/usr/bin/env bash
# t_check.sh - `clusterd check FILE` as a user sees it: "FILE: configuration
# OK" and exit 0 for conf/example.conf, conf/demo.conf and tests/conf/good;
# for every tests/conf/bad file exactly the message on its first line
# ("; expect: 7: unknown key ..." means "FILE:7: unknown key ...") and exit 3;
# and check changes nothing on disk.
. "$(dirname "$0")/lib.sh"

[ -x "$CLUSTERD" ] || fail "$CLUSTERD not built"
cd "$ROOT" || fail "cd $ROOT"

# check_ok FILE: exit 0, the OK line on stdout, nothing on stderr.
check_ok() {
	local out err rc
	out=$("$CLUSTERD" check "$1" 2>"$T/err"); rc=$?
	err=$(cat "$T/err")
	[ "$rc" = 0 ] || fail "check $1: exit $rc, expected 0 ($err)"
	assert_eq "$out" "$1: configuration OK" "check $1 stdout"
	assert_eq "$err" "" "check $1 stderr"
}

# check_bad FILE MESSAGE: exit 3, MESSAGE on stderr, nothing on stdout.
check_bad() {
	local out err rc
	out=$("$CLUSTERD" check "$1" 2>"$T/err"); rc=$?
	err=$(cat "$T/err")
	[ "$rc" = 3 ] || fail "check $1: exit $rc, expected 3 ($err)"
	assert_eq "$err" "$2" "check $1 stderr"
	assert_eq "$out" "" "check $1 stdout"
}

check_ok conf/example.conf
check_ok conf/demo.conf
ngood=0
for f in tests/conf/good/*.conf; do
	check_ok "$f"
	ngood=$((ngood + 1))
done

nbad=0
for f in tests/conf/bad/*.conf; do
	first=$(head -n 1 "$f")
	expect=${first#"; expect: "}
	[ "$expect" != "$first" ] || fail "$f: first line is not '; expect: ...'"
	case $expect in
	[0-9]*) check_bad "$f" "$f:$expect" ;;
	*) check_bad "$f" "$f: $expect" ;;
	esac
	nbad=$((nbad + 1))
done
[ "$nbad" -ge 25 ] || fail "only $nbad bad files"
note "$ngood good and $nbad bad files checked"

# The same file named by an absolute path from elsewhere: the message names
# it as given.
(cd "$T" && "$CLUSTERD" check "$ROOT/tests/conf/bad/unknown_key.conf" \
	>/dev/null 2>"$T/err"); rc=$?
assert_eq "$rc" 3 "absolute path exit"
assert_eq "$(cat "$T/err")" \
	"$ROOT/tests/conf/bad/unknown_key.conf:7: unknown key 'foo' in [worker]" \
	"absolute path message"

# Every key of example.conf, the commented-out ones too.
if getent passwd www-data >/dev/null && getent group www-data >/dev/null; then
	sed -E 's/^;([a-z_]+ = )/\1/' conf/example.conf >"$T/example-all.conf"
	grep -q '^user = www-data' "$T/example-all.conf" ||
		fail "example.conf has no commented-out user = www-data"
	grep -q '^socket_group = ' "$T/example-all.conf" ||
		fail "example.conf has no commented-out socket_group"
	check_ok "$T/example-all.conf"
else
	note "no www-data user: example.conf's commented-out keys not checked"
fi

# Missing file and usage.
check_bad "$T/nope.conf" "$T/nope.conf: No such file or directory"
"$CLUSTERD" check >/dev/null 2>&1; rc=$?
assert_eq "$rc" 2 "check without FILE"

# check changes nothing: no runtime dir, pidfile, control or unix socket.
cat >"$T/quiet.conf" <<EOF
[cluster]
control = $T/rt/control.sock
pidfile = $T/rt/master.pid
log = $T/logs/quiet.log
[listen]
address = unix:$T/sock/app.sock
[worker]
command = $WORKER
EOF
check_ok "$T/quiet.conf"
for p in rt sock logs; do
	[ ! -e "$T/$p" ] || fail "check created $T/$p"
done
exit 0
