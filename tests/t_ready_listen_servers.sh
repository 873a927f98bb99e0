#!/usr/bin/env bash
# ready = listen with real servers and no readiness code of theirs, each
# behind a 1 s sleep: `start` returns only once they wait on their socket,
# and then they answer. gunicorn (gthread workers: its arbiter holds the
# socket, the workers it forks wait on it, in the same process group),
# uvicorn (asyncio, --fd 3), the Node example (libuv) and Go net/http. gunicorn's sync
# workers wait in select(2), which the master cannot see: the start fails
# at ready_timeout saying so. Each is skipped
# visibly when missing; the test fails if none of them runs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon.sh"
. "$(dirname "$0")/ready_listen.sh"

EX=$(cd "$(dirname "$0")/../worker/examples" && pwd)
ran=0

cat >"$T/wsgi.py" <<'PYEOF'
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello wsgi\n"]
PYEOF
cat >"$T/asgi.py" <<'PYEOF'
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"hello asgi\n"})
PYEOF

if command -v gunicorn >/dev/null; then
	# gunicorn takes LISTEN_FDS as systemd's socket activation.
	listen_starts "gunicorn gthread" "gunicorn --chdir $T --worker-class gthread --workers 2 --threads 2 wsgi:app"
	# Its sync workers wait in select(2): invisible, and said so.
	listen_never "gunicorn sync" "gunicorn --chdir $T --worker-class sync --workers 1 wsgi:app" "a select/poll server"
	ran=$((ran + 1))
else
	note "SKIP gunicorn: not installed (apt gunicorn)"
fi

if /usr/bin/python3 -c 'import uvicorn' 2>/dev/null; then
	listen_starts "uvicorn" "/usr/bin/python3 -m uvicorn --app-dir $T --fd 3 asgi:app"
	ran=$((ran + 1))
else
	note "SKIP uvicorn: not installed (apt python3-uvicorn)"
fi

if command -v node >/dev/null; then
	listen_starts "Node example" "node $EX/server.js"
	ran=$((ran + 1))
else
	note "SKIP Node example: node not installed"
fi

if command -v go >/dev/null; then
	# The Go example: net/http on fd 3; Go's poller puts it in epoll.
	cp "$EX/server.go" "$T/server.go"
	if (cd "$T" && GOCACHE="$T/gocache" GO111MODULE=off timeout 120 go build -o "$T/goserver" server.go) >"$T/go.out" 2>&1; then
		listen_starts "Go example" "$T/goserver"
		ran=$((ran + 1))
	else
		note "SKIP Go: build failed: $(tail -3 "$T/go.out")"
	fi
else
	note "SKIP Go: go not installed"
fi

[ "$ran" -gt 0 ] || skip "none of gunicorn, uvicorn, node is installed"
exit 0
