// Command peer is the reference server Circly's live-tally benchmarks are measured against: a
// small server on the centrifugal/centrifuge library (what a team would build instead of a hub
// of its own) with its in-memory broker, Circly's channel shapes and token check, and an HTTP
// publish endpoint the load generator drives. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(args []string) error {
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	addr := fs.String("addr", envOr("PEER_ADDR", "127.0.0.1:8100"), "listen address (env PEER_ADDR)")
	secret := fs.String("secret", envOr("PEER_SECRET", ""), "HS256 key of the access tokens and of the publish endpoint's API key (env PEER_SECRET, at least 16 bytes)")
	ping := fs.Duration("ping", 25*time.Second, "application ping interval (Circly pings every 25 s); a client has 8/25 of it to answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(*secret) < 16 {
		return errors.New("set -secret or PEER_SECRET (at least 16 bytes)")
	}
	if *ping < time.Second {
		return errors.New("-ping must be at least 1s")
	}
	p, err := newPeer(*secret, *ping)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: *addr, Handler: p.routes(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("peer is listening on http://%s (WebSocket /connection/websocket, POST /publish)", *addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.node.Shutdown(sctx)
	return srv.Shutdown(sctx)
}
