#!/usr/bin/env bash
# t_worker_http: the reference worker's HTTP parsing over raw sockets:
# pipelining (in order, across a /slow, hundreds in one write), request
# bodies skipped by Content-Length, requests split over many packets,
# HTTP/1.0, HEAD, bounded headers (431), malformed requests (400/501/505),
# absolute-form targets, clients that vanish mid-request.
. "$(dirname "$0")/lib.sh"

[ -x "$WORKER" ] || fail "no $WORKER (make clusterd-worker)"

# raw.py PORT [CHUNK | +SECONDS]...: send the chunks (a +N argument pauses
# N seconds between two chunks, to split them into separate segments), then
# print everything received until the server closes. "<TIMEOUT>" if it
# does not close within 5 s, "<RESET>" on a reset.
cat >"$T/raw.py" <<'EOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for c in sys.argv[2:]:
    if c.startswith("+"):
        time.sleep(float(c[1:]))
    else:
        s.sendall(c.encode("latin1"))
data = b""
while True:
    try:
        d = s.recv(65536)
    except socket.timeout:
        data += b"<TIMEOUT>"
        break
    except ConnectionResetError:
        data += b"<RESET>"
        break
    if not d:
        break
    data += d
sys.stdout.write(data.decode("latin1").replace("\r", ""))
EOF
raw() { python3 "$T/raw.py" "$port" "$@"; }
count() { grep -c -- "$2" <<<"$1"; }

CRLF=$'\r\n'
# add PATH [close]: append a GET to $R (not $(...): it eats the final LF).
add() { R+="GET $1 HTTP/1.1${CRLF}Host: t${CRLF}${2:+Connection: close$CRLF}${CRLF}"; }

port=$(free_port)
bg_run "$WORKER" --listen "127.0.0.1:$port" >"$T/w.log" 2>&1
wpid=$BG_PID
wait_until 5 http_ok "http://127.0.0.1:$port/" || fail "worker not up: $(cat "$T/w.log")"

# Pipelining: answers in order, the last one closes.
R=; add /; add /pid close
out=$(raw "$R")
assert_eq "$(count "$out" '^HTTP/1.1 200 OK$')" 2 "two pipelined answers"
assert_eq "$(grep -v '^[A-Z].*: \|^HTTP\|^$' <<<"$out" | tr '\n' ' ')" \
	"hello world $wpid " "pipelined bodies in order"
assert_eq "$(count "$out" '^Connection: close$')" 1 "only the last closes"
assert_not_contains "$out" "<TIMEOUT>" "server closes after Connection: close"

# A slow answer holds back the ones behind it, order is kept.
R=; add '/slow?ms=200'; add /; add /pid close
out=$(raw "$R")
assert_eq "$(grep -v '^[A-Z].*: \|^HTTP\|^$' <<<"$out" | tr '\n' ' ')" \
	"slept 200 ms hello world $wpid " "order across a /slow"

# Hundreds of requests in one write: more than one read buffer, and
# more output than one send.
R=
for ((i = 0; i < 600; i++)); do add /; done
add /pid close
out=$(raw "$R")
assert_eq "$(count "$out" '^hello world$')" 600 "600 pipelined answers"
assert_eq "$(tail -n 1 <<<"$out")" "$wpid" "answer 601"

# A request trickled in byte groups over several segments.
out=$(raw "GE" +0.05 "T /p" +0.05 "id HTTP/1.1${CRLF}Ho" +0.05 \
	"st: t${CRLF}Connection: cl" +0.05 "ose${CRLF}" +0.05 "${CRLF}")
assert_contains "$out" "HTTP/1.1 200 OK" "split request answered"
assert_eq "$(tail -n 1 <<<"$out")" "$wpid" "split request body"

# Bare LF line ends are accepted.
out=$(raw $'GET /pid HTTP/1.1\nHost: t\nConnection: close\n\n')
assert_eq "$(tail -n 1 <<<"$out")" "$wpid" "LF-only request"

# A request body is skipped by Content-Length, even split, even pipelined.
R=; add /pid close
out=$(raw "POST / HTTP/1.1${CRLF}Host: t${CRLF}Content-Length: 10${CRLF}${CRLF}01234" \
	+0.05 "56789GET / HTTP/1.1${CRLF}${CRLF}$R")
assert_eq "$(count "$out" "^HTTP/1.1 200 OK$")" 3 "POST with body, then 2 GETs"
assert_eq "$(tail -n 1 <<<"$out")" "$wpid" "request after a body"

# HTTP/1.0: closes unless asked to keep alive.
out=$(raw "GET / HTTP/1.0${CRLF}${CRLF}")
assert_contains "$out" "Connection: close" "HTTP/1.0 default"
assert_contains "$out" "hello world" "HTTP/1.0 body"
out=$(raw "GET / HTTP/1.0${CRLF}Connection: keep-alive${CRLF}${CRLF}GET /pid HTTP/1.0${CRLF}${CRLF}")
assert_eq "$(count "$out" '^Connection: keep-alive$')" 1 "HTTP/1.0 keep-alive"
assert_eq "$(count "$out" '^HTTP/1.1 200 OK$')" 2 "HTTP/1.0 keep-alive: 2 answers"

# HEAD: headers only.
out=$(raw "HEAD / HTTP/1.1${CRLF}Host: t${CRLF}Connection: close${CRLF}${CRLF}")
assert_contains "$out" "Content-Length: 12" "HEAD length"
assert_not_contains "$out" "hello" "HEAD has no body"

# absolute-form target.
R=; add http://example.com/pid close
out=$(raw "$R")
assert_eq "$(tail -n 1 <<<"$out")" "$wpid" "absolute-form target"

# Header section larger than 8 KiB: 431, and the connection is closed.
pad=$(head -c 9000 /dev/zero | tr '\0' a)
out=$(raw "GET / HTTP/1.1${CRLF}Host: t${CRLF}X-Pad: $pad${CRLF}${CRLF}")
assert_contains "$out" "HTTP/1.1 431" "oversized header section"
assert_contains "$out" "Connection: close" "431 closes"
assert_not_contains "$out" "<TIMEOUT>" "431 closes the connection"
# ... also when no line end ever comes.
out=$(raw "GET /$pad")
assert_contains "$out" "HTTP/1.1 431" "endless request line"

# Malformed requests.
out=$(raw "BLAH${CRLF}${CRLF}")
assert_contains "$out" "HTTP/1.1 400" "garbage request line"
out=$(raw "GET / HTTP/2.0${CRLF}${CRLF}")
assert_contains "$out" "HTTP/1.1 505" "unsupported version"
out=$(raw "POST / HTTP/1.1${CRLF}Transfer-Encoding: chunked${CRLF}${CRLF}0${CRLF}${CRLF}")
assert_contains "$out" "HTTP/1.1 501" "chunked request body"
out=$(raw "GET / HTTP/1.1${CRLF}Content-Length: x${CRLF}${CRLF}")
assert_contains "$out" "HTTP/1.1 400" "bad Content-Length"
out=$(raw "GET / HTTP/1.1${CRLF}Bad Header: x${CRLF}${CRLF}")
assert_contains "$out" "HTTP/1.1 400" "space in a header name"

# A client that leaves in the middle of a /slow or of its request.
python3 - "$port" <<'EOF'
import socket, sys
for req in (b"GET /slow?ms=100 HTTP/1.1\r\nHost: t\r\n\r\n", b"GET / HTTP/1.1\r\nHo"):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(req)
    s.close()
EOF
wait_until 3 eval '[ "$(conns_accepted '"$port"')" -eq 0 ]' ||
	fail "connections of vanished clients still open"
assert_eq "$(http_get "http://127.0.0.1:$port/pid")" "$wpid" "alive after vanished clients"
alive "$wpid" || fail "worker died: $(cat "$T/w.log")"
exit 0
