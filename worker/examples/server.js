'use strict';
// server.js - a clusterd worker in Node.js, no dependencies.
//
//   [worker]
//   command = node /path/to/server.js
//   ready = listen           ; or fd, or notify (see below)
//
// Socket: clusterd (or systemd) passes the listening socket as fd 3 with
// LISTEN_FDS/LISTEN_PID; server.listen({fd: 3}) takes it. Without them it
// listens on HOST:PORT (127.0.0.1:8080), to run it alone.
//
// Readiness: with `ready = listen` nothing is needed: clusterd sees the
// socket in libuv's epoll set once server.listen() has run. With
// `ready = fd`, the listen callback writes a newline to CLUSTERD_READY_FD.
// With `ready = notify` (CLUSTERD_READY=notify, or NOTIFY_SOCKET without
// clusterd, under systemd): Node has no unix datagram sockets, so it cannot
// send READY=1 itself; it runs `systemd-notify --ready` as a child, and
// clusterd credits a message to the worker whose process tree sent it. With
// listen or fd no helper process runs.
//
// Stop: on SIGTERM stop accepting (server.close() closes our copy of fd 3;
// never shutdown() it, the master still holds that socket), finish in-flight
// requests, answer further keep-alive requests with "Connection: close",
// close connections that stay idle, exit 0.
//
//   GET /            200 "hello world\n"
//   GET /slow?ms=N   200 after N ms
//   GET /pid         the process id
// Every answer carries X-Worker-Pid and X-Worker-Slot (CLUSTERD_WORKER).
const http = require('http');
const fs = require('fs');
const { execFile } = require('child_process');

const PID = String(process.pid);
const SLOT = process.env.CLUSTERD_WORKER || '-';
const DRAIN_IDLE_MS = 200;
let draining = false;

const server = http.createServer((req, res) => {
  const send = (status, body) => {
    const headers = {
      'Content-Type': 'text/plain',
      'Content-Length': Buffer.byteLength(body),
      'X-Worker-Pid': PID,
      'X-Worker-Slot': SLOT,
    };
    if (draining) headers.Connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  };
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  if (path === '/') {
    send(200, 'hello world\n');
  } else if (path === '/slow') {
    const m = /[?&]ms=(\d+)/.exec(req.url);
    const ms = m ? Math.min(parseInt(m[1], 10), 600000) : 0;
    setTimeout(() => send(200, `slept ${ms} ms\n`), ms);
  } else if (path === '/pid') {
    send(200, PID + '\n');
  } else {
    send(404, 'not found\n');
  }
});
server.keepAliveTimeout = 5000;

function ready() {
  const where = JSON.stringify(server.address());
  const readyFd = parseInt(process.env.CLUSTERD_READY_FD || '', 10);
  if (readyFd >= 0) {
    fs.writeSync(readyFd, '\n');
    fs.closeSync(readyFd);
    return;
  }
  const mode = process.env.CLUSTERD_READY;
  if (!process.env.NOTIFY_SOCKET || (mode && mode !== 'notify')) return;
  execFile('systemd-notify', ['--ready', `--status=serving on ${where}`],
    (err) => { if (err) console.error(`systemd-notify: ${err.message}`); });
}

const nfds = parseInt(process.env.LISTEN_FDS || '0', 10);
if (nfds >= 1 && process.env.LISTEN_PID === PID) {
  // Children must not think these are theirs.
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDNAMES;
  server.listen({ fd: 3 }, ready);
} else {
  server.listen(parseInt(process.env.PORT || '8080', 10),
    process.env.HOST || '127.0.0.1', ready);
}

// Node's own server.close() (>= 19) destroys every idle keep-alive socket at
// once; one that already holds the client's next, unread request gives that
// client a reset. Instead close sockets that are still idle a moment later,
// and let busy ones end with their "Connection: close" answer.
const closeIdle = http.Server.prototype.closeIdleConnections;
server.closeIdleConnections = () => {};

function drain() {
  if (draining) return;
  draining = true;
  server.close(() => process.exit(0));
  setInterval(() => closeIdle.call(server), DRAIN_IDLE_MS).unref();
}
process.on('SIGTERM', drain);
process.on('SIGINT', drain);
