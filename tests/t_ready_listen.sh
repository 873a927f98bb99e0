#!/usr/bin/env bash
# ready = listen with servers that have no readiness code: the C reference
# worker (libev, epoll) and the Python example (an epoll loop), each behind
# a 1 s sleep: `start` returns only once they wait on their socket, and
# they answer at once. Servers that never accept fail the start at
# ready_timeout with what the master saw: one that holds the socket but
# waits in poll(2), one that closed it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"
. "$(dirname "$0")/ready_listen.sh"

PY=$(command -v python3) || skip "python3 missing"
EX=$(cd "$(dirname "$0")/../worker/examples" && pwd)

listen_starts "C worker" "$WORKER --no-ready"
listen_starts "C worker booting 1 s" "$WORKER --ready-delay-ms 1000"
listen_starts "Python example" "$PY $EX/server.py"

# Blocking accept in a thread (no epoll at all): seen in /proc/TID/syscall.
cat >"$T/accept.py" <<'PYEOF'
import socket, threading
s = socket.socket(fileno=3)
s.setblocking(True)
def serve():
    while True:
        c, _ = s.accept()
        c.recv(4096)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
        c.close()
threading.Thread(target=serve).start()
PYEOF
listen_starts "blocking accept" "$PY $T/accept.py"

# Never accepts: holds fd 3, waits in poll(2) on it.
cat >"$T/poll.py" <<'PYEOF'
import select, socket, time
s = socket.socket(fileno=3)
p = select.poll()
p.register(s, select.POLLIN)
while True:
    p.poll(1000)
    time.sleep(0.1)
PYEOF
listen_never "poll server" "$PY $T/poll.py" "a select/poll server"
# Closed its socket: nothing of its group holds it.
listen_never "closed socket" "$PY -c 'import os, time; os.close(3); time.sleep(60)'" "holds its listening socket"
exit 0
