#!/usr/bin/env bash
# uvicorn (Debian's python3-uvicorn, `--fd 3`, ready = listen: no readiness code) under
# clusterd, as clusterd.8 SERVERS says: it starts and answers on both slots;
# a reload under keep-alive load loses nothing for a client that retries a
# GET whose reused connection uvicorn closed at its SIGTERM; a stop answers
# the request in flight. (A reload under new connections is not claimed
# lossless for uvicorn: see SERVERS.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/servers.sh"

$PY -c 'import uvicorn' 2>/dev/null || skip "python3-uvicorn not installed"
server_claims uvicorn listen "$PY -m uvicorn --fd 3 asgi_app:app"
