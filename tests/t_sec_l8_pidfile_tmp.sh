#!/usr/bin/env bash
# L8: the pidfile's "*.tmp" name is never cut short. With a pidfile path of
# 4094 bytes, "PATH.tmp" does not fit in PATH_MAX: the master refuses the
# pidfile (exit 4, ENAMETOOLONG) instead of writing to the name cut
# to "PATH." (which held a file of the user's: it stays as it was). A
# pidfile path that leaves room works, and no *.tmp is left behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

# A directory chain whose pidfile path is exactly $1 bytes long.
long_pidfile() {
	local want=$1 d=$T/d name
	while [ $(( ${#d} + 201 + 12 )) -lt "$want" ]; do
		d=$d/$(printf 'x%.0s' $(seq 200))
	done
	name=$(printf 'p%.0s' $(seq $(( want - ${#d} - 1 - 4 ))))
	mkdir -p "$d" || fail "mkdir of a ${#d}-byte path"
	echo "$d/$name.pid"
}
PORT=$(free_port)
conf() {	# conf PIDFILE: relative to the file's directory, so that the
		# line stays under 4096 bytes
	cluster_app "" "[listen]" "address = 127.0.0.1:$PORT" "[cluster]" \
		"pidfile = ${1#"$T"/}"
}

pf=$(long_pidfile 4094)
assert_eq "${#pf}" 4094 "pidfile path length"
echo precious >"$pf."
conf "$pf"
timeout 10 "$CLUSTERD" run "$T/app.conf" >"$T/run1.out" 2>&1
rc=$?
assert_eq "$rc" 4 "run with a 4094-byte pidfile path: $(cut -c1-300 "$T/run1.out")"
assert_contains "$(cat "$T/run1.out")" "error: ${NAME:-t$$}: pidfile $T/d/" "the error"
[ -e "$pf" ] && fail "a pidfile was written"
assert_eq "$(cat "$pf." 2>/dev/null)" precious "the file at the cut name PATH."

pf=$(long_pidfile 4000)
conf "$pf"
run_cluster "$T/app.conf"
wait_started
assert_eq "$(cat "$pf")" "$MASTER" "a 4000-byte pidfile path"
[ -e "$pf.tmp" ] && fail "a *.tmp is left"
kill -TERM "$MASTER"
wait "$MASTER"
assert_eq "$?" 0 "master exit status"
[ -e "$pf" ] && fail "pidfile left after the stop"
exit 0
