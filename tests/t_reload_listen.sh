#!/usr/bin/env bash
# A reload can change [listen]: a new section is bound before any worker is
# touched and the new generation gets it (LISTEN_FDS=2); a removed one is
# closed once no worker holds it any more; a changed address moves the
# cluster; a new address that cannot be bound fails the reload and changes
# nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

P1=$(free_port); P2=$(free_port); P3=$(free_port)
conf() {	# conf "[listen] sections..."
	{ printf '%b' "$1"; printf '[worker]\ncommand = %s\nready = notify\n' "$WORKER"; } |
		WORKERS=2 cluster_conf "$T/app.conf"
}
reload_to() {	# reload_to GEN: HUP, wait for its result
	kill -HUP "$MASTER"
	wait_until 10 eval "grep -q -E 'reloaded: generation $1|reload to generation $1 failed' '$T/master.log'" ||
		fail "no result for generation $1"
}
worker_env() { for p in $(children "$MASTER"); do tr '\0' '\n' <"/proc/$p/environ"; done; }

conf "[listen]\naddress = 127.0.0.1:$P1\n"
run_cluster "$T/app.conf"
wait_started

# 1. Add [listen admin] on P2.
conf "[listen]\naddress = 127.0.0.1:$P1\n[listen admin]\naddress = 127.0.0.1:$P2\n"
reload_to 2
master_log_has "reloaded: generation 2" || fail "adding a listener: $(grep failed "$T/master.log")"
assert_eq "$(http_get "http://127.0.0.1:$P2/")" "hello world" "new listener serves"
assert_eq "$(http_get "http://127.0.0.1:$P1/")" "hello world" "old listener still serves"
env=$(worker_env)
assert_contains "$env" "LISTEN_FDS=2" "new workers get both sockets"
assert_contains "$env" "LISTEN_FDNAMES=default:admin" "names"

# 2. A new address that is taken: the reload fails, nothing changes.
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("up", flush=True); time.sleep(30)' "$P3" >"$T/holder" &
HOLDER=$!; track "$HOLDER"
wait_until 5 grep -q up "$T/holder"
before=$(children "$MASTER" | sort | tr '\n' ' ')
conf "[listen]\naddress = 127.0.0.1:$P1\n[listen admin]\naddress = 127.0.0.1:$P3\n"
reload_to 3
master_log_has "reload to generation 3 failed: 127.0.0.1:$P3: bind: Address already in use" ||
	fail "bind failure not reported: $(grep 'generation 3' "$T/master.log")"
assert_eq "$(children "$MASTER" | sort | tr '\n' ' ')" "$before" "workers untouched by a failed reload"
assert_eq "$(http_get "http://127.0.0.1:$P2/")" "hello world" "admin still on P2"
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null

# 3. Remove [listen admin] and move the default listener from P1 to P3.
conf "[listen]\naddress = 127.0.0.1:$P3\n"
reload_to 4
master_log_has "reloaded: generation 4" || fail "moving: $(grep 'generation 4' "$T/master.log")"
assert_eq "$(http_get "http://127.0.0.1:$P3/")" "hello world" "moved listener serves"
wait_until 5 port_refused "$P2" || fail "removed listener still open"
wait_until 5 port_refused "$P1" || fail "old address still open"
assert_contains "$(worker_env)" "LISTEN_FDS=1" "one socket after the removal"
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
