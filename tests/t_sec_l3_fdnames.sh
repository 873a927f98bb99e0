#!/usr/bin/env bash
# L3: LISTEN_FDNAMES is never cut. 20 listeners with 60-character names
# make a 1219-byte value (it used to stop at 1023 bytes: 17 names for 20
# fds, which sd_listen_fds_with_names() rejects); every name must arrive,
# in order, each with its listening socket at fd 3 + i.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || skip "no $PY"
N=20
pad=$(printf 'x%.0s' $(seq 1 56))
cat >"$T/w.py" <<'EOF2'
import os, socket, sys, time
n = int(os.environ["LISTEN_FDS"])
names = os.environ["LISTEN_FDNAMES"].split(":")
print("LISTEN_FDS=%d names=%d bytes=%d" % (n, len(names),
      len(os.environ["LISTEN_FDNAMES"])), flush=True)
for i in range(n):
    s = socket.socket(fileno=3 + i)
    print("fd %d %s %s listening=%d" % (3 + i, names[i] if i < len(names)
          else "-", s.getsockname()[1],
          s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)), flush=True)
    s.detach()
print("checked", flush=True)
while True:
    time.sleep(100)
EOF2
# N distinct free ports in one go (free_port costs a python start each).
"$PY" -c 'import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in ss))' $N >"$T/ports"
{
	printf 'workers = 1\n'
	i=0
	while read -r p; do
		i=$((i + 1))
		printf '[listen n%02d_%s]\naddress = 127.0.0.1:%s\n' "$i" "$pad" "$p"
	done <"$T/ports"
	printf '[worker]\ncommand = %s %s/w.py\nready = delay\nready_delay = 100ms\n' "$PY" "$T"
} | cluster_conf "$T/app.conf"
run_cluster "$T/app.conf"
wait_until 10 master_log_has "checked" ||
	fail "worker did not check its fds: $(tail -20 "$T/master.log")"
grep 'LISTEN_FDS=' "$T/master.log" | sed 's/.*: //;s/^/  /'
master_log_has "LISTEN_FDS=$N names=$N bytes=$((N * 61 - 1))" ||
	fail "names lost: $(grep 'LISTEN_FDS=' "$T/master.log")"
i=0
while read -r p; do
	n=$(printf 'n%02d_%s' $((i + 1)) "$pad")
	master_log_has "fd $((3 + i)) $n $p listening=1" ||
		fail "fd $((3 + i)): not $n on port $p: $(grep "fd $((3 + i)) " "$T/master.log")"
	i=$((i + 1))
done <"$T/ports"
assert_eq "$i" "$N" "listeners checked"
kill -TERM "$MASTER"; wait "$MASTER"
exit 0
