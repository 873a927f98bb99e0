#!/usr/bin/env bash
# tests/real-systemd/run.sh - clusterd's units under a real systemd (opt-in:
# `make check-systemd`; not part of `make check`). Boots systemd (v254 from
# bookworm-backports, so Type=notify-reload exists) as PID 1 of an nspawn
# container (never on the host's root fs), installs the build into it with
# `make install`, and drives the units for real:
#   clusterd@demo.service       start (Type=notify), reload under load,
#                               a failed reload, status, journal priorities,
#                               user switching under the hardening,
#                               WatchdogSec= on a frozen master, stop
#   clusterd-notify-reload@     reload by SIGHUP, a failed reload does not hang
#   clusterd-example.socket     socket activation, restart behind the socket
#   clusterd@duck.service       (lameduck.sh) systemctl stop with stop_delay
# Needs root, debootstrap and the Debian archive for the first `setup`
# (~1 min, ~260 MB in $HARNESS_DIR). Every check prints one line; the exit
# status is 1 if any failed, 77 if the container cannot be had.
#
# Knobs: REAL_SYSTEMD (the harness script), HARNESS_DIR, KEEP_CONTAINER=1
# (leave it running for a look: run-real-systemd.sh exec ...).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
H=${REAL_SYSTEMD:-/work/shared/real-systemd/run-real-systemd.sh}
export NAME=${NAME:-clusterd-check}
export HARNESS_DIR=${HARNESS_DIR:-/var/tmp/clusterd-systemd-harness}
export EXEC_TIMEOUT=${EXEC_TIMEOUT:-60}
BUILD=${BUILD:-build/rel}

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root" >&2; exit 77; }
[ -x "$H" ] || { echo "SKIP: no harness at $H" >&2; exit 77; }
[ -x "$ROOT/$BUILD/clusterd" ] || { echo "FAIL: build first (make)" >&2; exit 1; }

W=$(mktemp -d /var/tmp/clusterd-real-systemd.XXXXXX)
STAGE=$W/stage
failures=0
LOADPID=

log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*"; }
ok() { log "ok:   $*"; }
bad() { log "FAIL: $*"; failures=$((failures + 1)); }
# check DESCRIPTION CMD...: run CMD, report.
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
ct() { "$H" exec "$@"; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
prop() { ct systemctl show -p "$2" --value "$1"; }
free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
http_ok() { curl -sf --max-time 5 -o /dev/null "http://127.0.0.1:$1/"; }
port_refused() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# wait_for SECONDS CMD...: poll CMD every 100 ms until it succeeds.
wait_for() {
	local end=$(( $(date +%s%N) + $1 * 1000000000 )); shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.1
	done
}
# A connection to PORT a server has accepted (established, seen from ss).
conn_in_flight() { [ -n "$(ss -tnH state established "( sport = :$1 )")" ]; }
state_is() { [ "$(prop "$1" ActiveState)" = "$2" ]; }
main_pid_changed() { local p; p=$(prop "$1" MainPID); [ "$p" != 0 ] && [ "$p" != "$2" ]; }

cleanup() {
	[ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null
	if [ -z "${KEEP_CONTAINER:-}" ]; then
		"$H" shutdown >/dev/null 2>&1
	else
		log "container left running: NAME=$NAME $H exec ..."
	fi
	rm -rf "$W"
}
trap cleanup EXIT

# ------------------------------------------------------------ install
# `make install` into a staging root; libraries the container lacks (libev,
# Debian 12 both sides) come from the host.
if ! make -s -C "$ROOT" -o all install DESTDIR="$STAGE" PREFIX=/usr \
    BUILD="$BUILD" >"$W/install.log" 2>&1; then
	bad "make install DESTDIR=...: $(tail -3 "$W/install.log")"
	exit 1
fi
if [ ! -x "$HARNESS_DIR/rootfs/lib/systemd/systemd" ]; then
	log "setting up the container root (once): $H setup"
	"$H" setup || { echo "SKIP: harness setup failed" >&2; exit 77; }
fi
for lib in $(ldd "$STAGE/usr/bin/clusterd" "$STAGE/usr/bin/clusterd-worker" |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u); do
	[ -e "$HARNESS_DIR/rootfs$lib" ] && continue
	dest=$STAGE/usr${lib#/usr}	# /lib is a link to /usr/lib in there
	mkdir -p "$(dirname "$dest")"
	cp -L "$lib" "$dest"
	log "from the host: $lib"
done

EXTRA_NSPAWN_ARGS="--bind-ro=$STAGE:/opt/clusterd-stage" "$H" boot ||
	{ echo "SKIP: the container does not boot" >&2; exit 77; }
log "container: $(ct systemctl --version | head -1)"
ct cp -a /opt/clusterd-stage/. / || { bad "install into the container"; exit 1; }
ct ldconfig
ct systemctl daemon-reload

P=$(free_port)
ct mkdir -p /etc/clusterd
ct sh -c "cat >/etc/clusterd/demo.conf" <<EOF
[cluster]
workers = 2
user = nobody

[listen]
address = 127.0.0.1:$P

[worker]
command = /usr/bin/clusterd-worker --ready-delay-ms 300
ready = notify
EOF

# ------------------------------------------------------------ clusterd@demo
U=clusterd@demo.service
t=$(date +%s%N)
ct systemctl start "$U"; rc=$?
dt=$(ms_since "$t")
check "systemctl start $U: rc $rc after $dt ms (workers need 300 ms)" \
	test "$rc" = 0 -a "$dt" -ge 300
check "active: $(prop "$U" ActiveState)/$(prop "$U" SubState)" state_is "$U" active
log "StatusText: $(prop "$U" StatusText)"
check "StatusText after start" test "$(prop "$U" StatusText)" = "2/2 workers ready, generation 1"
check "serving on 127.0.0.1:$P" http_ok "$P"
MAIN=$(prop "$U" MainPID)
CG=$(prop "$U" ControlGroup)
users=$(ct sh -c "for p in \$(cat /sys/fs/cgroup$CG/cgroup.procs); do
	echo \"\$(cat /proc/\$p/comm):\$(awk '/^Uid:/ { print \$2 }' /proc/\$p/status)\"; done" |
	LC_ALL=C sort | tr "\n" " ")
log "processes (comm:uid): $users"
check "master as root, 2 workers as nobody (65534)" \
	test "$users" = "clusterd-worker:65534 clusterd-worker:65534 clusterd:0 "
check "RuntimeDirectory /run/clusterd/demo holds the control socket" \
	ct test -S /run/clusterd/demo/control.sock
check "RuntimeDirectory mode 0700" test "$(ct stat -c %a /run/clusterd/demo)" = 700
ct clusterd status /etc/clusterd/demo.conf | sed 's/^/    /'

# Reload under load: zero failed requests, reload waits for the roll.
rm -f "$W/stop"
python3 "$ROOT/tests/load.py" --port "$P" --conc 4 --duration 30 \
	--stop-file "$W/stop" >"$W/load.json" 2>&1 &
LOADPID=$!
t=$(date +%s%N)
ct systemctl reload "$U"; rc=$?
dt=$(ms_since "$t")
touch "$W/stop"; wait "$LOADPID"; LOADPID=
check "systemctl reload $U: rc $rc after $dt ms (2 x 300 ms roll)" \
	test "$rc" = 0 -a "$dt" -ge 600
log "load during the reload: $(cat "$W/load.json")"
check "no failed request during the reload" python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(not (r["ok"] > 0 and r["non2xx"] == 0 and
    all(r.get(k, 0) == 0 for k in ("refused", "reset", "timeout", "other"))))' "$W/load.json"
check "StatusText after reload: $(prop "$U" StatusText)" \
	test "$(prop "$U" StatusText)" = "2/2 workers ready, generation 2"
check "same master after reload" test "$(prop "$U" MainPID)" = "$MAIN"

# A broken file: systemctl reload fails, the old workers keep serving.
ct sh -c 'echo "no_such_key = 1" >>/etc/clusterd/demo.conf'
t=$(date +%s%N)
ct systemctl reload "$U" 2>"$W/reload.err"; rc=$?
dt=$(ms_since "$t")
log "failed reload: rc $rc after $dt ms: $(head -2 "$W/reload.err" | tr '\n' ' ')"
check "systemctl reload of a broken file fails" test "$rc" != 0
check "still active after the failed reload" state_is "$U" active
log "StatusText: $(prop "$U" StatusText)"
check "StatusText says the reload failed" \
	grep -q "reload failed" <<<"$(prop "$U" StatusText)"
check "still serving after the failed reload" http_ok "$P"
ct sed -i '/^no_such_key/d' /etc/clusterd/demo.conf
ct systemctl status "$U" --no-pager -n 0 | sed 's/^/    /'

# Journal: <N> prefixes became priorities; no double timestamps.
check "journal: 'workers ready' at priority notice" \
	grep -q "demo: 2/2 workers ready on 127.0.0.1:$P" <<<"$(ct journalctl -u "$U" -p notice -o cat --no-pager)"
check "journal: 'started pid' lines are info, not notice" \
	bash -c '! grep -q "started pid" <<<"$1"' _ "$(ct journalctl -u "$U" -p notice -o cat --no-pager)"
check "journal: the failed reload at priority err" \
	grep -q "reload to generation 3 failed" <<<"$(ct journalctl -u "$U" -p err -o cat --no-pager)"
check "journal: no timestamps of our own" \
	bash -c '! grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T" <<<"$1"' _ "$(ct journalctl -u "$U" -o cat --no-pager)"
ct journalctl -u "$U" -o short-precise --no-pager | grep -E "clusterd\[" | head -4 | sed 's/^/    /'

# WatchdogSec=: a frozen master (SIGSTOP) is killed and restarted.
ct mkdir -p "/etc/systemd/system/$U.d"
ct sh -c "printf '[Service]\nWatchdogSec=2s\nTimeoutAbortSec=2s\n' >/etc/systemd/system/$U.d/watchdog.conf"
ct systemctl daemon-reload
ct systemctl restart "$U"
MAIN=$(prop "$U" MainPID)
check "WatchdogUSec=2s: $(prop "$U" WatchdogUSec)" test "$(prop "$U" WatchdogUSec)" = 2s
sleep 3		# watch a healthy master for 1.5 x WatchdogSec
check "healthy master pings: not restarted after 3 s (watchdog 2 s)" \
	test "$(prop "$U" MainPID)" = "$MAIN" -a "$(prop "$U" NRestarts)" = 0
ct sh -c "kill -STOP $MAIN"
t=$(date +%s%N)
wait_for 20 main_pid_changed "$U" "$MAIN"
dt=$(ms_since "$t")
check "frozen master replaced after $dt ms, NRestarts=$(prop "$U" NRestarts)" \
	test "$(prop "$U" NRestarts)" = 1
wait_for 10 state_is "$U" active
check "active again, serving" http_ok "$P"
ct journalctl -u "$U" --no-pager -o cat | grep -iE "watchdog" | head -3 | sed 's/^/    /'
ct rm -f "/etc/systemd/system/$U.d/watchdog.conf"
ct systemctl daemon-reload

. "$ROOT/tests/real-systemd/upgrade.sh"

# systemctl stop with a request in flight: SIGTERM reaches the master only
# (KillMode=mixed), it closes its sockets and the workers drain.
curl -s --max-time 10 -o "$W/slow.body" -w '%{http_code}' \
	"http://127.0.0.1:$P/slow?ms=1500" >"$W/slow.code" &
slow=$!
wait_for 5 conn_in_flight "$P"
t=$(date +%s%N)
ct systemctl stop "$U"; rc=$?
dt=$(ms_since "$t")
wait "$slow"
check "systemctl stop: rc $rc after $dt ms, with a 1.5 s request in flight" \
	test "$rc" = 0 -a "$dt" -ge 1000
check "the in-flight request finished: HTTP $(cat "$W/slow.code")" \
	test "$(cat "$W/slow.code")" = 200
check "inactive: $(prop "$U" ActiveState)" state_is "$U" inactive
check "port refused after stop" port_refused "$P"
check "RuntimeDirectory removed" ct test ! -e /run/clusterd/demo
check "no process left: $(prop "$U" ControlGroup)" \
	test -z "$(ct sh -c "cat /sys/fs/cgroup$CG/cgroup.procs 2>/dev/null")"

# A configuration error at start: the start fails at once, the error is in
# the journal at priority err, and exit 3 is not retried.
ct sh -c 'printf "[cluster]\nworkers = 1\n[listen]\naddress = 127.0.0.1:1\n[worker]\ncommand = /bin/true\nno_such_key = 1\n" >/etc/clusterd/broken.conf'
ct systemctl start clusterd@broken.service 2>/dev/null; rc=$?
check "systemctl start of a broken config fails (rc $rc)" test "$rc" != 0
check "exit status 3: $(prop clusterd@broken.service ExecMainStatus)" \
	test "$(prop clusterd@broken.service ExecMainStatus)" = 3
sleep 2		# RestartSec=1s: would it be retried?
check "not restarted (RestartPreventExitStatus): NRestarts=$(prop clusterd@broken.service NRestarts)" \
	test "$(prop clusterd@broken.service NRestarts)" = 0
log "journal: $(ct journalctl -u clusterd@broken.service -o cat --no-pager | grep broken.conf | head -1)"
check "the config error is in the journal at priority err" \
	grep -q "broken.conf:7" <<<"$(ct journalctl -u clusterd@broken.service -p err -o cat --no-pager)"
ct systemctl reset-failed clusterd@broken.service

# ------------------------------------------------------------ notify-reload
U=clusterd-notify-reload@demo.service
ct systemctl start "$U"; rc=$?
check "systemctl start $U: rc $rc" test "$rc" = 0
t=$(date +%s%N)
ct systemctl reload "$U"; rc=$?
dt=$(ms_since "$t")
check "notify-reload: systemctl reload rc $rc after $dt ms (>= 600)" test "$rc" = 0 -a "$dt" -ge 600
check "StatusText: $(prop "$U" StatusText)" \
	test "$(prop "$U" StatusText)" = "2/2 workers ready, generation 2"
ct sh -c 'echo "no_such_key = 1" >>/etc/clusterd/demo.conf'
t=$(date +%s%N)
ct systemctl reload "$U"; rc=$?
dt=$(ms_since "$t")
check "notify-reload: a failed reload returns (rc $rc after $dt ms), no hang" test "$dt" -lt 10000
log "StatusText: $(prop "$U" StatusText)"
check "notify-reload: StatusText says the reload failed" \
	grep -q "reload failed" <<<"$(prop "$U" StatusText)"
check "notify-reload: active, serving" http_ok "$P"
ct sed -i '/^no_such_key/d' /etc/clusterd/demo.conf
ct systemctl stop "$U"
check "notify-reload: stopped" state_is "$U" inactive

# ------------------------------------------------------------ activation
P2=$(free_port)
ct mkdir -p /etc/systemd/system/clusterd-example.socket.d
ct sh -c "printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:$P2\n' >/etc/systemd/system/clusterd-example.socket.d/port.conf"
ct sh -c "cat >/etc/clusterd/example.conf" <<EOF
[cluster]
workers = 2
[listen web]
address = 127.0.0.1:$P2
sockets = per-worker
[worker]
command = /usr/bin/clusterd-worker
ready = notify
EOF
ct systemctl daemon-reload
ct systemctl start clusterd-example.socket
check "socket listening, service not started yet" state_is clusterd-example.service inactive
t=$(date +%s%N)
body=$(curl -s --max-time 10 "http://127.0.0.1:$P2/")
dt=$(ms_since "$t")
check "first connection starts the service and is answered ($dt ms)" test "$body" = "hello world"
check "clusterd-example.service active" state_is clusterd-example.service active
check "journal: [listen web] uses socket 3 from systemd" \
	grep -q "\[listen web\]: using socket 3 from systemd (shared)" \
	<<<"$(ct journalctl -u clusterd-example.service -o cat --no-pager)"
MAIN=$(prop clusterd-example.service MainPID)
ct systemctl stop clusterd-example.service
check "service stopped, socket still active" state_is clusterd-example.socket active
t=$(date +%s%N)
body=$(curl -s --max-time 10 "http://127.0.0.1:$P2/")
dt=$(ms_since "$t")
check "after the service stopped: queued, restarted, answered ($dt ms)" test "$body" = "hello world"
check "a new master: $(prop clusterd-example.service MainPID) (was $MAIN)" \
	main_pid_changed clusterd-example.service "$MAIN"
ct systemctl stop clusterd-example.socket clusterd-example.service
check "port refused once the socket unit stopped" port_refused "$P2"

. "$ROOT/tests/real-systemd/events.sh"
. "$(dirname "${BASH_SOURCE[0]}")/lameduck.sh"
. "$ROOT/tests/real-systemd/fdstore.sh"
# ------------------------------------------------------------ Debian package
# Last: it removes what `make install` put in the container first.
. "$ROOT/tests/real-systemd/deb.sh"

log "$failures check(s) failed"
[ "$failures" -eq 0 ]
