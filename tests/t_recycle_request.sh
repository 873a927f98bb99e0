#!/usr/bin/env bash
# X_CLUSTERD_RECYCLE=1 from one worker (its own max-requests or leak check)
# replaces exactly that slot, make-before-break: the new worker is ready
# before the old one is told to stop, the other slots keep their pids,
# requests keep being answered, status says "request".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
PY=$(command -v python3) || skip "python3 missing"

# A worker that asks once $T/recycle.SLOT appears (and removes it, so that
# its successor does not ask again).
cat >"$T/w.py" <<'PYEOF'
import http.server, os, socket, threading, time
slot = os.environ["CLUSTERD_WORKER"]
flag = os.path.join(os.environ["T"], "recycle." + slot)
def notify(msg):
    addr = os.environ["NOTIFY_SOCKET"]
    if addr[0] == "@":
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(addr)
        s.sendall(msg.encode())
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (str(os.getpid()) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H, bind_and_activate=False)
srv.socket.close()
srv.socket = socket.socket(fileno=3)
threading.Thread(target=srv.serve_forever, daemon=True).start()
notify("READY=1")
import signal
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
while True:
    if os.path.exists(flag):
        os.unlink(flag)
        notify("X_CLUSTERD_RECYCLE=1")
    time.sleep(0.05)
PYEOF
start_cluster 3 "command = $PY $T/w.py" "env = T=$T"
before=$(for s in 0 1 2; do slot_pid "$s"; done | tr '\n' ' ')
set -- $before
touch "$T/recycle.1"
wait_until 10 master_log_has "slot 1: replacing pid $2 (request" ||
	fail "no recycle of slot 1: $(tail -20 "$T/master.log")"
wait_until 10 master_log_has "slot 1: replacing -\[new ready\]-> ready" ||
	fail "the successor never took over: $(tail -20 "$T/master.log")"
wait_until 10 eval "! alive $2" || fail "the old worker of slot 1 still runs"
new1=$(slot_pid 1) || fail "slot 1 has no worker"
[ "$new1" != "$2" ] || fail "slot 1 kept pid $2"
assert_eq "$(slot_pid 0) $(slot_pid 2)" "$1 $3" "the other slots keep their workers"
assert_eq "$(grep -c 'replacing pid .* (request' "$T/master.log")" 1 "recycles in the log"
# make-before-break: the successor was ready before the old one was stopped
awk -v old="$2" '$0 ~ "slot 1: replacing pid " old { rec=1 }
	rec && /slot 1: pid .* ready after/ && !seen_stop { ready_new=1 }
	$0 ~ "stopping pid " old { seen_stop=1; if (!ready_new) bad=1 } END { exit bad }' "$T/master.log" ||
	fail "the old worker was stopped before its successor was ready"
assert_eq "$(http_get "http://127.0.0.1:$PORT/" | grep -c .)" 1 "still answers"
st=$("$CLUSTERD" status "$T/app.conf" --json)
assert_eq "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print([w["last_replace"] for w in d["workers"] if w["state"] == "ready"])' <<<"$st")" "[None, 'request', None]" "last_replace per slot"
note "slots before: $before; slot 1 now $new1"
stop_master_clean
exit 0
