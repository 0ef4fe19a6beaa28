// Command circly-loadgen drives a running Circly deployment with live-tally load and prints the
// figures docs/benchmarks.md records. See loadtest/README.md for the scenarios and commands.
//
//	circly-loadgen -scenario classroom -vote http://127.0.0.1:8001 -watch http://127.0.0.1:8002 \
//	    -circles 1900 -members 10 -rate 2000 -duration 60s -pids a=1234,b=1235
//	circly-loadgen -protocol centrifuge -peer http://127.0.0.1:8100 -scenario hot -pids peer=1236
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"circly/loadtest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "circly-loadgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("circly-loadgen", flag.ContinueOnError)
	var c loadtest.Config
	var watch, pids string
	fs.StringVar(&c.Scenario, "scenario", "classroom", "classroom | hot | idle | storm | fixtures (set up a classroom and write it to -fixtures for k6)")
	fs.StringVar(&c.Protocol, "protocol", "circly", "circly | centrifuge (the reference peer of bench/peer: idle, classroom as bare publishes, hot, storm)")
	fs.StringVar(&c.PeerURL, "peer", "", "centrifuge: the peer's base URL, e.g. http://127.0.0.1:8100")
	fs.StringVar(&c.PeerKey, "peer-secret", os.Getenv("PEER_SECRET"), "centrifuge: the peer's secret (default: $PEER_SECRET)")
	fs.StringVar(&c.Fixtures, "fixtures", "", "fixtures: JSON file to write")
	fs.StringVar(&c.Population, "population", "", "classroom, storm, fixtures: reuse the users and circles saved in this file (written on first use; holds tokens)")
	fs.StringVar(&c.VoteURL, "vote", "http://127.0.0.1:8000", "base URL of the replica that takes setup and votes (replica A)")
	fs.StringVar(&watch, "watch", "", "comma-separated base URLs the watchers connect to (default: -vote)")
	fs.StringVar(&c.WSPath, "ws-path", "/v1/ws", "WebSocket endpoint")
	fs.IntVar(&c.Circles, "circles", 1900, "classroom, storm: circles")
	fs.IntVar(&c.Members, "members", 10, "members per circle (hot: of the one circle, at most 50)")
	fs.IntVar(&c.PollsPerCircle, "polls", 0, "polls per circle (0: enough for -rate × -duration)")
	fs.IntVar(&c.Watchers, "watchers", 5000, "hot: connections watching the hot poll")
	fs.IntVar(&c.Conns, "conns", 19000, "idle: connections")
	fs.IntVar(&c.ConnsPerUser, "conns-per-user", 10, "idle: connections per user (the contract allows 10 per replica)")
	fs.BoolVar(&c.SubscribeUser, "subscribe-user", false, "idle: each connection subscribes to its user: channel")
	fs.Float64Var(&c.Rate, "rate", 2000, "votes per second")
	fs.DurationVar(&c.Duration, "duration", 60*time.Second, "voting window (classroom, hot) or holding window (idle)")
	fs.IntVar(&c.Voters, "voters", 64, "concurrent vote requests")
	fs.DurationVar(&c.Settle, "settle", 5*time.Second, "quiet time after the last vote before the final stale check")
	fs.IntVar(&c.DialConcurrency, "dial-concurrency", 512, "WebSocket handshakes in flight")
	fs.IntVar(&c.SetupConcurrency, "setup-concurrency", 32, "circles (or logins) set up at once")
	fs.IntVar(&c.RcvBuf, "rcvbuf", 0, "socket receive buffer of each watcher in bytes (0: kernel default, megabytes on loopback)")
	fs.IntVar(&c.Sources, "sources", 8, "local source addresses 127.0.0.2… to spread connections over")
	fs.StringVar(&c.StormMode, "storm-mode", "drop", "storm: drop (the generator cuts every connection) | server (wait for the server to drop them, e.g. a restart)")
	fs.DurationVar(&c.StormTimeout, "storm-timeout", 60*time.Second, "storm: give up waiting after this")
	fs.StringVar(&pids, "pids", "", "server processes to sample for RSS and CPU: name=pid,name=pid (the generator itself is sampled as loadgen)")
	cpuProfile := fs.String("cpuprofile", "", "write the generator's own CPU profile here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.WatchURLs = strings.Split(watch, ",")
	if watch == "" {
		c.WatchURLs = []string{c.VoteURL}
	}
	c.Pids = map[string]int{}
	for part := range strings.SplitSeq(pids, ",") {
		if part == "" {
			continue
		}
		name, v, ok := strings.Cut(part, "=")
		pid, err := strconv.Atoi(v)
		if !ok || err != nil {
			return fmt.Errorf("-pids: %q is not name=pid", part)
		}
		c.Pids[name] = pid
	}
	if c.Rate <= 0 || c.Voters <= 0 || c.Members <= 0 || c.Circles <= 0 {
		return fmt.Errorf("-rate, -voters, -members and -circles must be positive")
	}
	c.Pids["loadgen"] = os.Getpid()
	if *cpuProfile != "" {
		pf, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	c.Out = os.Stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Go raises the soft open-file limit to the hard one at start-up; say what we have.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		fmt.Printf("%-30s %d\n", "open-file limit:", lim.Cur)
	}
	return loadtest.Run(ctx, c)
}
