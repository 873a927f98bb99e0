#!/usr/bin/env bash
# Go net/http (worker/examples/server.go, built with Debian's golang-go),
# net.FileListener on fd 3 and READY=1 itself, under clusterd as clusterd.8
# SERVERS says: starts and answers; a reload under a new connection per
# request loses nothing, and under keep-alive load nothing for a client
# that retries a GET on a reused connection (http.Server.Shutdown closes
# idle ones); a stop answers the request in flight.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/servers.sh"

command -v go >/dev/null || skip "golang-go not installed"
mkdir -p "$ROOT/build/gocache"
GOCACHE=$ROOT/build/gocache go build -o "$T/server-go" "$ROOT/worker/examples/server.go" ||
	fail "go build of worker/examples/server.go"
server_claims go listen "$T/server-go" new-conn-lossless
