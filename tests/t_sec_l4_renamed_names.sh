#!/usr/bin/env bash
# L4: a reload that swaps the names of two kept listeners ([listen public]
# on P1 and [listen admin] on P2 become admin on P1, public on P2): the
# workers the roll starts must already get the new LISTEN_FDNAMES, like
# every later respawn, not the old names with the new generation.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

P1=$(free_port); P2=$(free_port)
conf() {	# conf NAME1 NAME2
	printf '[listen %s]\naddress = 127.0.0.1:%s\n[listen %s]\naddress = 127.0.0.1:%s\n[worker]\ncommand = %s\nready = notify\n' \
		"$1" "$P1" "$2" "$P2" "$WORKER" | WORKERS=2 cluster_conf "$T/app.conf"
}
# names_of: "GENERATION NAMES" of every worker, sorted.
names_of() {
	local p
	for p in $(children "$MASTER"); do
		tr '\0' '\n' <"/proc/$p/environ" |
			awk -F= '$1 == "CLUSTERD_GENERATION" { g = $2 } $1 == "LISTEN_FDNAMES" { n = $2 } END { print g, n }'
	done | sort
}

conf public admin
run_cluster "$T/app.conf"
wait_started
assert_eq "$(names_of | tr '\n' ';')" "1 public:admin;1 public:admin;" "generation 1"

conf admin public
"$CLUSTERD" reload "$T/app.conf" >"$T/reload.out" 2>&1 ||
	fail "reload failed: $(cat "$T/reload.out")"
wait_until 5 eval '[ "$(nchildren "$MASTER")" = 2 ]' || fail "old workers still there"
note "after the roll: $(names_of | tr '\n' ';')"
assert_eq "$(names_of | tr '\n' ';')" "2 admin:public;2 admin:public;" "workers started by the roll"

# A respawn of the same generation: same names.
victim=$(slot_pid 0)
kill -KILL "$victim"
wait_until 10 eval 'p=$(slot_pid 0) && [ "$p" != "$victim" ]' || fail "slot 0 not respawned"
wait_until 5 eval '[ "$(nchildren "$MASTER")" = 2 ]'
note "after a respawn: $(names_of | tr '\n' ';')"
assert_eq "$(names_of | tr '\n' ';')" "2 admin:public;2 admin:public;" "after a respawn"
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
