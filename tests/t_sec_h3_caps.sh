#!/usr/bin/env bash
# H3: a master that is not root but holds CAP_SETUID/CAP_SETGID (and
# CAP_KILL, to stop them) in its ambient set, as with systemd User= +
# AmbientCapabilities=, runs `user =` workers. They must get their user's
# groups, not the master's (here root and adm), no capabilities at all, and
# must not be able to become root again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

[ "$(id -u)" = 0 ] || skip "needs root (setpriv)"
command -v setpriv >/dev/null || skip "no setpriv"
PY=/usr/bin/python3
[ -x "$PY" ] || skip "no $PY"
id nobody >/dev/null 2>&1 && id www-data >/dev/null 2>&1 ||
	skip "needs users nobody and www-data"
setpriv --reuid=nobody --regid=nogroup --groups=0,4 \
	--inh-caps=+setuid,+setgid,+kill --ambient-caps=+setuid,+setgid,+kill true 2>/dev/null ||
	skip "setpriv cannot set ambient capabilities here"

chmod 755 "$T"
mkdir "$T/m" && chown nobody "$T/m" && chmod 700 "$T/m"
# The worker tries to get root back, says how far it got, then waits.
cat >"$T/w.py" <<'EOF'
import os, sys, time
def attempt(what, f):
    try:
        f()
        print("ESCALATED: %s succeeded" % what, flush=True)
    except OSError as e:
        print("refused: %s: %s" % (what, e.strerror), flush=True)
print("worker uid %d gid %d groups %s" % (os.getuid(), os.getgid(),
      sorted(os.getgroups())), flush=True)
attempt("setgroups([0])", lambda: os.setgroups([0]))
attempt("setgid(0)", lambda: os.setgid(0))
attempt("setuid(0)", lambda: os.setuid(0))
print("attempts done", flush=True)
while True:
    time.sleep(100)
EOF
chmod 644 "$T/w.py"
PORT=$(free_port)
cat >"$T/app.conf" <<EOF
[cluster]
name = h3
workers = 1
user = www-data
control = $T/m/control.sock
pidfile = $T/m/master.pid
[listen]
address = 127.0.0.1:$PORT
[worker]
command = $PY $T/w.py
ready = delay
ready_delay = 100ms
EOF
bg_run setpriv --reuid=nobody --regid=nogroup --groups=0,4 \
	--inh-caps=+setuid,+setgid,+kill --ambient-caps=+setuid,+setgid,+kill \
	"$CLUSTERD" run "$T/app.conf" >"$T/master.log" 2>&1
MASTER=$BG_PID
wait_until 10 master_log_has "attempts done" ||
	fail "worker did not run: $(tail -20 "$T/master.log")"
grep -i "clusterd\[.*workers ready\|attempt\|refused\|ESCALATED\|worker uid" "$T/master.log" | sed 's/^/  /'

# The master really had what the scenario needs.
mcap=$(awk '/^CapAmb:/ { print $2 }' "/proc/$MASTER/status")
[ "$mcap" = 00000000000000e0 ] || fail "master CapAmb is $mcap, not setuid+setgid+kill"

wpid=$(children "$MASTER" | head -1)
[ -n "$wpid" ] || fail "no worker"
st=/proc/$wpid/status
www=$(id -u www-data)
wgroups=$(id -G www-data | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed 's/ $//')
assert_eq "$(awk '/^Uid:/ { print $2 " " $3 " " $4 " " $5 }' "$st")" "$www $www $www $www" "worker uids"
assert_eq "$(awk '/^Groups:/ { $1 = ""; print }' "$st" | tr ' ' '\n' | grep . | sort -n | tr '\n' ' ' | sed 's/ $//')" \
	"$wgroups" "worker supplementary groups (not the master's 0 4)"
for c in CapInh CapPrm CapEff CapAmb; do
	assert_eq "$(awk -v k="$c:" '$1 == k { print $2 }' "$st")" 0000000000000000 "worker $c"
done
! master_log_has "ESCALATED" || fail "the worker regained privileges: $(grep ESCALATED "$T/master.log")"
for a in "setgroups(\[0\])" "setgid(0)" "setuid(0)"; do
	master_log_has "refused: $a" || fail "no refusal of $a logged"
done
kill -TERM "$MASTER"; wait "$MASTER"
assert_eq "$?" 0 "master exit status"
exit 0
