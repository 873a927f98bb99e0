// server.go - a clusterd worker in Go, standard library only.
//
//	[worker]
//	command = /path/to/server        ; go build -o server server.go
//	ready = listen
//
// Socket: clusterd (or systemd) passes the listening socket as fd 3 with
// LISTEN_FDS/LISTEN_PID; net.FileListener takes it (a dup: closing it
// leaves the master's socket alone). Without them it listens on
// HOST:PORT (127.0.0.1:8080), to run it alone.
//
// Readiness: with `ready = listen` nothing is needed: Go's poller puts the
// socket in an epoll set when the listener is made, which clusterd sees,
// so make it once the server is about to serve (after its own warm-up).
//
// Stop: on SIGTERM, Shutdown stops accepting (closes our copy of the
// socket; never shutdown(2) it), lets in-flight requests finish, closes
// idle keep-alive connections, then the process exits 0.
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
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func listener() (net.Listener, error) {
	if os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid()) &&
		os.Getenv("LISTEN_FDS") != "" && os.Getenv("LISTEN_FDS") != "0" {
		for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
			os.Unsetenv(k)
		}
		return net.FileListener(os.NewFile(3, "listen"))
	}
	host, port := os.Getenv("HOST"), os.Getenv("PORT")
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "8080"
	}
	return net.Listen("tcp", net.JoinHostPort(host, port))
}

func main() {
	pid, slot := strconv.Itoa(os.Getpid()), os.Getenv("CLUSTERD_WORKER")
	if slot == "" {
		slot = "-"
	}
	mux := http.NewServeMux()
	send := func(w http.ResponseWriter, body string) {
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
		send(w, "hello world\n")
	})
	mux.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) {
		send(w, pid+"\n")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		if ms > 600000 {
			ms = 600000
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		send(w, fmt.Sprintf("slept %d ms\n", ms))
	})
	srv := &http.Server{Handler: mux, IdleTimeout: 5 * time.Second}

	l, err := listener()
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		log.Fatalf("serve: %v", err)
	}
}
