#!/usr/bin/env bash
# gunicorn (Debian's), sync and gthread worker classes, one gunicorn per
# slot adopting clusterd's socket (LISTEN_FDS), under clusterd as clusterd.8
# SERVERS says: starts and answers; a reload under a new connection per
# request loses nothing, and under keep-alive load nothing for a client
# that retries a GET on a reused connection; a stop answers the request in
# flight.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster.sh"
. "$(dirname "$0")/servers.sh"

$PY -c 'import gunicorn' 2>/dev/null || skip "gunicorn not installed"
# gthread waits in epoll (ready = listen sees it); sync in select(2).
for class in sync gthread; do
	ready=listen; [ $class = sync ] && ready=delay
	server_claims "gunicorn-$class" $ready \
		"$PY -m gunicorn --workers 1 --worker-class $class --threads 4 wsgi_app:app" new-conn-lossless
done
