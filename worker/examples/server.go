// server.go - a clusterd worker in Go, standard library only.
//
//	[worker]
//	command = /path/to/server-go      ; go build -o server-go server.go
//	ready = listen                    ; or notify
//
// Socket: clusterd (or systemd) passes the listening socket as fd 3 with
// LISTEN_FDS/LISTEN_PID; net.FileListener(os.NewFile(3, ...)) takes it.
// Without them it listens on HOST:PORT (127.0.0.1:8080), to run it alone.
//
// Readiness: with `ready = listen` nothing is needed: Go's poller puts the
// socket in an epoll set when the listener is made, which clusterd sees
// (so make it once the server is about to serve). With `ready = notify`,
// READY=1 is one datagram to NOTIFY_SOCKET (sd_notify(3)), sent once the
// listener is being served; clusterd ignores it under the other modes.
//
// Stop: on SIGTERM http.Server.Shutdown stops accepting, closes idle
// keep-alive connections at once and waits for requests in flight. A client
// that was sending its next request on such a connection sees it closed:
// HTTP/1.1 clients retry an idempotent request then (clusterd.8 SERVERS).
//
//	GET /            200 "hello world\n"
//	GET /slow?ms=N   200 after N ms
//	GET /pid         the process id
//
// Every answer carries X-Worker-Pid and X-Worker-Slot (CLUSTERD_WORKER).
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func listener() (net.Listener, error) {
	if os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) && os.Getenv("LISTEN_FDS") != "" {
		os.Unsetenv("LISTEN_PID")
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_FDNAMES")
		return net.FileListener(os.NewFile(3, "listen"))
	}
	addr := os.Getenv("HOST") + ":" + os.Getenv("PORT")
	if addr == ":" {
		addr = "127.0.0.1:8080"
	}
	return net.Listen("tcp", addr)
}

func notify(msg string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return
	}
	// A leading '@' is an abstract socket; Go's net package reads the
	// name that way itself.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "notify:", err)
		return
	}
	defer c.Close()
	c.Write([]byte(msg))
}

func main() {
	pid := strconv.Itoa(os.Getpid())
	slot := os.Getenv("CLUSTERD_WORKER")
	if slot == "" {
		slot = "-"
	}
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Worker-Pid", pid)
		w.Header().Set("X-Worker-Slot", slot)
		fmt.Fprint(w, body)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		reply(w, "hello world\n")
	})
	mux.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) {
		reply(w, pid+"\n")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		reply(w, "slow\n")
	})
	ln, err := listener()
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: mux}
	done := make(chan struct{})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		srv.Shutdown(context.Background())
		close(done)
	}()
	notify("READY=1")
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
	<-done
}
