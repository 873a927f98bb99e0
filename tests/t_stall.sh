#!/usr/bin/env bash
# stall_timeout without a heartbeat: slot 0's worker frozen (SIGSTOP) while
# clients connect: the connections hashed to its socket wait in its queue;
# after stall_timeout the slot is steered away, a successor starts on the
# same socket and answers every one of them (within stall_timeout + one
# sample + a boot + 1 s), the frozen worker is killed, slot 1 untouched.
# A worker that is merely slow (accepts, answers after 3 s) is not judged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/admin.sh"
need_prom

ADMIN_PORT=$(free_port)
start_cluster 2 "stall_timeout = 2s" "[cluster]" "admin = 127.0.0.1:$ADMIN_PORT"
victim=$(slot_pid 0)
other=$(slot_pid 1)

# 1. Slow but accepting: /slow?ms=3000 from 8 clients for 5 s.
python3 "$ROOT/tests/load.py" --port "$PORT" --path "/slow?ms=3000" --duration 5 \
	--conc 8 --timeout 10 >"$T/slow.json"
note "slow: $(cat "$T/slow.json")"
[ "$(load_field failed "$T/slow.json")" = 0 ] || fail "slow requests failed"
master_log_has "hung, replacing" && fail "a slow worker was judged hung: $(grep hung "$T/master.log")"
assert_eq "$(slot_pid 0) $(slot_pid 1)" "$victim $other" "workers after the slow load"

# 2. Frozen: 40 clients connect at once; those on slot 0's socket wait.
kill -STOP "$victim"
python3 - "$PORT" >"$T/frozen.json" <<'PY' &
import json, socket, sys, threading, time
port = int(sys.argv[1])
res, lock = [], threading.Lock()
def one():
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        pid = [l.split(b":")[1].strip().decode() for l in data.split(b"\r\n")
               if l.lower().startswith(b"x-worker-pid:")]
        r = {"ok": data.startswith(b"HTTP/1.1 200"), "pid": pid[0] if pid else None}
    except OSError as e:
        r = {"ok": False, "err": repr(e)}
    r["s"] = round(time.monotonic() - t0, 3)
    with lock:
        res.append(r)
ts = [threading.Thread(target=one) for _ in range(40)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(json.dumps(res))
PY
CLIENTS=$!
wait_until 30 master_log_has "hung, replacing it" || fail "the stall was not detected: $(tail -5 "$T/master.log")"
grep "hung, replacing" "$T/master.log" >&2
wait "$CLIENTS"
python3 - "$T/frozen.json" "$victim" "$other" <<'PY' >&2 || fail "clients of the frozen slot"
import json, sys
res = json.load(open(sys.argv[1])); victim, other = sys.argv[2:4]
bad = [r for r in res if not r["ok"]]
late = [r for r in res if r.get("pid") not in (other, None)]
print(f"{len(res)} clients, {len(bad)} failed, {len(late)} answered by the successor, "
      f"slowest {max(r['s'] for r in res)} s")
assert not bad, bad[:3]
assert all(r["pid"] != victim for r in res)
assert len(late) >= 5, "too few clients were queued on the frozen slot"
# stall_timeout 2 s + a sample (1 s) + the successor's boot + 1 s
assert max(r["s"] for r in late) < 5.0 + 1.0, "answered too late"
PY
wait_until 10 eval '! alive '"$victim" || fail "the frozen worker $victim still runs"
note "$(grep "pid $victim" "$T/master.log" | tail -1)"
new=$(slot_pid 0)
[ -n "$new" ] && [ "$new" != "$victim" ] || fail "slot 0 has no new worker"
assert_eq "$(slot_pid 1)" "$other" "slot 1 untouched"
scrape
assert_eq "$(metric 'clusterd_slot_recycles_total{slot="0",reason="stall"}')" 1 "stall recycles of slot 0"
assert_eq "$(metric 'clusterd_slot_recycles_total{slot="1",reason="stall"}')" 0 "stall recycles of slot 1"
stop_master_clean
