"""asgi_app.py - the example app as ASGI, for uvicorn under clusterd.

    [worker]
    directory = /path/to/worker/examples
    command = python3 -m uvicorn --fd 3 asgi_app:app
    ready = delay

uvicorn takes the socket clusterd passes as fd 3 (--fd 3). It speaks no
sd_notify; see clusterd.8 SERVERS for its readiness and its stop.

    GET /            200 "hello world\\n"
    GET /slow?ms=N   200 after N ms
    GET /pid         the process id
"""
import asyncio
import os

PID = str(os.getpid()).encode()
SLOT = os.environ.get("CLUSTERD_WORKER", "-").encode()


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/":
        status, body = 200, b"hello world\n"
    elif path == "/pid":
        status, body = 200, PID + b"\n"
    elif path == "/slow":
        q = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
        await asyncio.sleep(int(q.get("ms", "0")) / 1000)
        status, body = 200, b"slow\n"
    else:
        status, body = 404, b"not found\n"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode()),
                            (b"x-worker-pid", PID), (b"x-worker-slot", SLOT)]})
    await send({"type": "http.response.body", "body": body})
