#!/usr/bin/env bash
# Security H1: a process that names itself "x) S <worker pid>\n"
# (PR_SET_NAME; /proc/PID/stat prints comm raw) must not pass for that
# worker's child. The worker never sends READY=1 itself; two forgers send
# READY=1 + STATUS= for it on its NOTIFY_SOCKET: one as another user
# (nobody: dropped on its uid, before any /proc read), one as root (a
# uid the master accepts, so only the parent walk can tell). The worker
# must stay "starting" with its STATUS unchanged, and each forgery must be
# logged as ignored.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

need_nobody_python

PORT=$(free_port)
WORKERS=1 cluster_conf "$T/app.conf" <<EOC
[listen]
address = 127.0.0.1:$PORT
[worker]
command = /bin/sleep 1000
ready = notify
ready_timeout = 30s
EOC
run_cluster "$T/app.conf"
has_worker() { [ -n "$(children "$MASTER")" ]; }
wait_until 5 has_worker || fail "no worker: $(cat "$T/master.log")"
W=$(children "$MASTER" | head -1)
NS=$(tr '\0' '\n' <"/proc/$W/environ" | sed -n 's/^NOTIFY_SOCKET=//p')
[ -n "$NS" ] || fail "no NOTIFY_SOCKET in the worker's environment"

cat >"$T/forge.py" <<'EOP'
import ctypes, os, socket, sys
name, target = sys.argv[1], int(sys.argv[2])
comm = b"x) S %d\n" % target
assert len(comm) <= 15
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(comm), 0, 0, 0)   # PR_SET_NAME
stat = open("/proc/self/stat").read()
assert stat.startswith("%d (x) S %d\n)" % (os.getpid(), target)), stat
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1\nWATCHDOG=1\nSTATUS=forged by uid %d" % os.getuid(),
         "\0" + name[1:])
print("pid %d sent READY=1 as uid %d" % (os.getpid(), os.getuid()))
EOP
state_of_slot0() {
	"$CLUSTERD" status "$T/app.conf" --json | python3 -c '
import json, sys
w = [w for w in json.load(sys.stdin)["workers"] if w["slot"] == 0][0]
print(w["state"], w.get("status", ""))'
}
decided() { grep -q -e "$1" -e "ready after" "$T/master.log"; }

# 1. Another user.
out=$($AS_NOBODY "$PY" - "$NS" "$W" <"$T/forge.py" 2>&1) ||
	fail "forger (nobody): $out"
note "$out"
wait_until 5 decided "not the workers' user" ||
	fail "the master said nothing about the forged message"
st=$(state_of_slot0)
note "after the forgery by nobody: $st"
master_log_has "ready after" && fail "a forged READY=1 from uid nobody made the worker ready"
assert_contains "$st" "starting" "slot 0 after the forgery by nobody"
assert_not_contains "$st" "forged" "STATUS after the forgery by nobody"

# 2. Root, the uid the master accepts: only the parent walk can refuse it.
out=$("$PY" "$T/forge.py" "$NS" "$W" 2>&1) || fail "forger (root): $out"
note "$out"
wait_until 5 decided "not a worker" ||
	fail "the master said nothing about the forged message"
st=$(state_of_slot0)
note "after the forgery by root: $st"
master_log_has "ready after" && fail "a forged READY=1 (forged comm) made the worker ready"
assert_contains "$st" "starting" "slot 0 after the forgery by root"
assert_not_contains "$st" "forged" "STATUS after the forgery by root"
grep 'notify:' "$T/master.log" | sed 's/^/# /' >&2

kill -TERM "$MASTER"
wait "$MASTER"
assert_eq "$?" 0 "master exit status"
exit 0
