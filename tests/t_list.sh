#!/usr/bin/env bash
# clusterd list: as root it shows a root cluster, another user's (nobody's,
# under /tmp/clusterd-UID) and a stale runtime dir (its master kill -9'd:
# pidfile and socket left behind) marked stale, not running; --json is one
# valid array with the same; a user's directory whose socket is a symlink
# to root's cluster is not taken for it; nobody sees only its own cluster;
# a cluster stopped cleanly is gone from the list.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

[ "$(id -u)" = 0 ] || skip "needs root (a second uid, /run/clusterd)"
command -v setpriv >/dev/null || skip "setpriv missing"
id nobody >/dev/null 2>&1 || skip "no user nobody"
AS_NOBODY=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
"${AS_NOBODY[@]}" "$CLUSTERD" --version >/dev/null 2>&1 ||
	skip "nobody cannot run $CLUSTERD"
"${AS_NOBODY[@]}" test -x "$WORKER" || skip "nobody cannot run $WORKER"
chmod 755 "$T"
nuid=$(id -u nobody)

# Configs with the default control socket and pidfile: in the runtime dirs.
A=tl$$a B=tl$$b C=tl$$c
on_exit 'rm -rf "/run/clusterd/$A" "/run/clusterd/$C" "/tmp/clusterd-$nuid/$B"'
conf() {	# FILE NAME
	PORT=$(free_port)
	cat >"$1" <<EOF
[cluster]
name = $2
workers = 2
[listen]
address = 127.0.0.1:$PORT
[worker]
command = $WORKER
ready = notify
EOF
	chmod 644 "$1"
}
conf "$T/a.conf" "$A"
conf "$T/b.conf" "$B"
conf "$T/c.conf" "$C"
# A stale one first: its master killed, its directory left as it was.
bg_run "$CLUSTERD" run "$T/c.conf" >"$T/c.log" 2>&1
CPID=$BG_PID
wait_until 10 grep -q "workers ready on" "$T/c.log" || fail "c did not start: $(cat "$T/c.log")"
kill -9 "$CPID"
wait "$CPID" 2>/dev/null
alive "$CPID" && fail "c's master outlived kill -9"
[ -e "/run/clusterd/$C/master.pid" ] || fail "c left no pidfile"

bg_run "$CLUSTERD" run "$T/a.conf" >"$T/a.log" 2>&1
APID=$BG_PID
bg_run env -u XDG_RUNTIME_DIR "${AS_NOBODY[@]}" "$CLUSTERD" run "$T/b.conf" >"$T/b.log" 2>&1
BPID=$BG_PID
wait_until 10 grep -q "workers ready on" "$T/a.log" || fail "a did not start: $(cat "$T/a.log")"
wait_until 10 grep -q "workers ready on" "$T/b.log" || fail "b did not start: $(cat "$T/b.log")"
[ "$(awk '/^Uid:/ { print $2 }' "/proc/$BPID/status")" = "$nuid" ] ||
	fail "b's master does not run as nobody"
[ -S "/tmp/clusterd-$nuid/$B/control.sock" ] || fail "b's socket is not in /tmp/clusterd-$nuid/$B"

# nobody's trap: a "cluster" whose control socket is a symlink to root's.
D=tl$$d
on_exit 'rm -rf "/tmp/clusterd-$nuid/$D"'
"${AS_NOBODY[@]}" mkdir -m 700 "/tmp/clusterd-$nuid/$D" &&
	"${AS_NOBODY[@]}" ln -s "/run/clusterd/$A/control.sock" "/tmp/clusterd-$nuid/$D/control.sock" ||
	fail "nobody's symlinked socket"

# --- As root: all of them. -----------------------------------------------
"$CLUSTERD" list >"$T/list" 2>"$T/list.err"
assert_eq "$?" 0 "list exit status"
note "$(cat "$T/list")"
head -1 "$T/list" | grep -Eq '^NAME +USER +MASTER +STATE +READY +GEN +UPTIME +FILE$' ||
	fail "no header: $(head -1 "$T/list")"
line() { awk -v n="$1" '$1 == n' "$T/list"; }
[[ $(line "$A") =~ ^$A\ +root\ +$APID\ +running\ +2/2\ +1\ +[0-9][0-9a-z]*\ +$T/a.conf$ ]] ||
	fail "root's cluster: '$(line "$A")'"
[[ $(line "$B") =~ ^$B\ +nobody\ +$BPID\ +running\ +2/2\ +1\ +[0-9][0-9a-z]*\ +$T/b.conf$ ]] ||
	fail "nobody's cluster: '$(line "$B")'"
[[ $(line "$C") =~ ^$C\ +root\ +$CPID\ +stale\ +-\ +-\ +-\ +\(/run/clusterd/$C:\ master\ $CPID\ is\ gone\)$ ]] ||
	fail "the stale dir: '$(line "$C")'"
# The symlink is not followed: not root's cluster under nobody's name.
[[ $(line "$D") =~ ^$D\ +nobody\ +-\ +stale\ + ]] ||
	fail "nobody's symlink to root's socket: '$(line "$D")'"

"$CLUSTERD" list --json >"$T/list.json"
assert_eq "$?" 0 "list --json exit status"
python3 -m json.tool "$T/list.json" >/dev/null || fail "list --json is not JSON: $(cat "$T/list.json")"
python3 - "$T/list.json" "$A" "$B" "$C" "$APID" "$BPID" "$CPID" "$T" "$nuid" <<'EOF' ||
import json, sys
v = json.load(open(sys.argv[1]))
a, b, c, apid, bpid, cpid, t, nuid = sys.argv[2:]
assert isinstance(v, list), v
by = {e["name"]: e for e in v}
ea, eb, ec = by[a], by[b], by[c]
assert (ea["state"], ea["stale"], ea["master_pid"], ea["ready"], ea["wanted"],
        ea["generation"], ea["file"], ea["user"], ea["uid"], ea["runtime_dir"]) == \
    ("running", False, int(apid), 2, 2, 1, t + "/a.conf", "root", 0,
     "/run/clusterd/" + a), ea
assert ea["uptime_s"] >= 0 and ea["reason"] is None, ea
assert (eb["state"], eb["master_pid"], eb["user"], eb["uid"], eb["file"],
        eb["runtime_dir"]) == ("running", int(bpid), "nobody", int(nuid),
        t + "/b.conf", "/tmp/clusterd-%s/%s" % (nuid, b)), eb
assert (ec["state"], ec["stale"], ec["master_pid"], ec["ready"], ec["file"],
        ec["uptime_s"]) == ("stale", True, int(cpid), None, None, None), ec
assert "is gone" in ec["reason"], ec
EOF
	fail "list --json fields: $(cat "$T/list.json")"

# --- As nobody: its own only. ------------------------------------------
env -u XDG_RUNTIME_DIR "${AS_NOBODY[@]}" "$CLUSTERD" list >"$T/nlist" 2>&1
assert_eq "$?" 0 "nobody's list exit status"
grep -q "^$B " "$T/nlist" || fail "nobody does not see its cluster: $(cat "$T/nlist")"
grep -q "^$A \|^$C " "$T/nlist" && fail "nobody sees root's clusters: $(cat "$T/nlist")"

# --- Stopped cleanly: gone. ---------------------------------------------
"$CLUSTERD" stop "$T/a.conf" >/dev/null || fail "stop a"
"$CLUSTERD" list >"$T/list2"
grep -q "^$A " "$T/list2" && fail "a stopped cluster is listed: $(cat "$T/list2")"
grep -q "^$B .* running " "$T/list2" || fail "b is gone from the list"
exit 0
