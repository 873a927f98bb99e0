#!/usr/bin/env python3
"""server.py - a clusterd worker in Python 3, standard library only.

    [worker]
    command = python3 /path/to/server.py
    ready = listen          ; or: ready = notify (it sends READY=1 too)

Socket: clusterd (or systemd) passes the listening socket as fd 3 with
LISTEN_FDS/LISTEN_PID; socket.socket(fileno=3) takes it. Without them it
listens on HOST:PORT (127.0.0.1:8080), to run it alone.

Readiness: with `ready = listen` nothing is needed: clusterd sees the socket
in the epoll set of the accept loop below (socketserver's own serve_forever()
waits in poll(2), which clusterd cannot see). With `ready = notify`: READY=1
is one datagram to NOTIFY_SOCKET (sd_notify(3)); a name starting with '@' is
an abstract socket. That is all sd_notify() does.

Stop: on SIGTERM stop accepting (close our copy of fd 3; never shutdown() it,
the master still holds that socket), finish in-flight requests, answer
further keep-alive requests with "Connection: close", close connections that
stay idle, exit 0.

    GET /            200 "hello world\\n"
    GET /slow?ms=N   200 after N ms
    GET /pid         the process id
Every answer carries X-Worker-Pid and X-Worker-Slot (CLUSTERD_WORKER).
"""

import http.server
import os
import re
import selectors
import signal
import socket
import sys
import threading
import time

PID = str(os.getpid())
SLOT = os.environ.get("CLUSTERD_WORKER", "-")
DRAIN_IDLE = 0.2      # seconds a connection must stay idle to be closed

draining = threading.Event()
lock = threading.Lock()
idle = {}             # connection -> True while waiting for a request


def sd_notify(message):
    """Send one datagram to NOTIFY_SOCKET; False when there is none."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr[0] == "@":
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(addr)
        s.sendall(message.encode())
    return True


def listen_fds():
    """The sockets passed by sd_listen_fds(3) rules: fds 3.., for us only."""
    if os.environ.get("LISTEN_PID") != PID:
        return []
    n = int(os.environ.get("LISTEN_FDS", "0"))
    for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(key, None)
    # The fd's O_NONBLOCK flag belongs to a description shared with the
    # master (and maybe other workers): leave it as it is. socketserver
    # ignores the BlockingIOError of an accept another process won.
    return [socket.socket(fileno=3 + i) for i in range(n)]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with lock:
            idle[self.connection] = True

    def finish(self):
        with lock:
            idle.pop(self.connection, None)
        super().finish()

    def parse_request(self):
        with lock:
            idle[self.connection] = False
        return super().parse_request()

    def handle_one_request(self):
        super().handle_one_request()
        with lock:
            if self.connection in idle:
                idle[self.connection] = True

    def send(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Worker-Pid", PID)
        self.send_header("X-Worker-Slot", SLOT)
        if draining.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/":
            self.send(200, "hello world\n")
        elif path == "/slow":
            m = re.search(r"(?:^|&)ms=(\d+)", query)
            ms = min(int(m.group(1)), 600000) if m else 0
            time.sleep(ms / 1000)
            self.send(200, "slept %d ms\n" % ms)
        elif path == "/pid":
            self.send(200, PID + "\n")
        else:
            self.send(404, "not found\n")

    do_HEAD = do_GET

    def log_message(self, format, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = False      # server_close() waits for in-flight requests
    block_on_close = True
    timeout = 0.05              # handle_request() never blocks for long


def serve(server, stop):
    """Accept until stop is set, waiting in an epoll set (selectors'
    default on Linux): what clusterd's `ready = listen` looks for."""
    with selectors.DefaultSelector() as sel:
        sel.register(server.socket, selectors.EVENT_READ)
        while not stop.is_set():
            if sel.select(0.05):
                server.handle_request()


def main():
    socks = listen_fds()
    if socks:
        server = Server(socks[0].getsockname(), Handler,
                        bind_and_activate=False)
        server.socket.close()
        server.socket = socks[0]
    else:
        server = Server((os.environ.get("HOST", "127.0.0.1"),
                         int(os.environ.get("PORT", "8080"))), Handler)

    def on_signal(signum, frame):
        draining.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    stop = threading.Event()
    loop = threading.Thread(target=serve, args=(server, stop))
    loop.start()
    sd_notify("READY=1\nSTATUS=serving on %s" % (server.socket.getsockname(),))

    while not draining.wait(1):
        pass
    sd_notify("STOPPING=1")
    stop.set()
    loop.join()                 # the accept loop has stopped
    server.socket.close()       # our copy only
    # Idle keep-alive connections: close those that stay idle. A busy one
    # ends after its answer, which says "Connection: close".
    while True:
        with lock:
            if not idle:
                break
            waiting = [c for c, i in idle.items() if i]
        time.sleep(DRAIN_IDLE)
        with lock:
            for c in waiting:
                if idle.get(c):
                    try:
                        c.shutdown(socket.SHUT_RDWR)  # a connection, not fd 3
                    except OSError:
                        pass
    server.server_close()       # joins the request threads
    return 0


if __name__ == "__main__":
    sys.exit(main())
