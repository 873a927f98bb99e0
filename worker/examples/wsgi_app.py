"""wsgi_app.py - the example app as WSGI, for gunicorn under clusterd.

    [worker]
    directory = /path/to/worker/examples
    command = gunicorn --workers 1 --worker-class gthread --threads 4 wsgi_app:app
    ready = delay

gunicorn adopts the socket clusterd passes (LISTEN_FDS/LISTEN_PID, as from
systemd) and serves it from one worker process; clusterd supervises one
gunicorn per slot. See clusterd.8 SERVERS.

    GET /            200 "hello world\\n"
    GET /slow?ms=N   200 after N ms
    GET /pid         the process id
"""
import os
import time
from urllib.parse import parse_qs

SLOT = os.environ.get("CLUSTERD_WORKER", "-")


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    pid = str(os.getpid())
    if path == "/":
        status, body = "200 OK", b"hello world\n"
    elif path == "/pid":
        status, body = "200 OK", pid.encode() + b"\n"
    elif path == "/slow":
        ms = int(parse_qs(environ.get("QUERY_STRING", "")).get("ms", ["0"])[0])
        time.sleep(ms / 1000)
        status, body = "200 OK", b"slow\n"
    else:
        status, body = "404 Not Found", b"not found\n"
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body))),
                            ("X-Worker-Pid", pid), ("X-Worker-Slot", SLOT)])
    return [body]
