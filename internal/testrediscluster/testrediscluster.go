// Package testrediscluster runs a private Redis Cluster (masters, maybe replicas) on loopback ports for
// one test: N redis-server processes with cluster-enabled yes, joined by
// `redis-cli --cluster create`. It fails the test when redis-server or redis-cli is missing:
// cluster tests must never pass by skipping.
package testrediscluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"circly/internal/testproc"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds each node's start and the cluster's agreement.
const startTimeout = 20 * time.Second

// Cluster is a running Redis Cluster of private redis-server processes.
type Cluster struct {
	t     testing.TB
	nodes []*node
}

type node struct {
	port int
	log  *testproc.Output
	mu   sync.Mutex
	proc *testproc.Process // nil once killed
}

// New starts a cluster of masters (at least 3) and stops it when the test ends.
func New(t testing.TB, masters int) *Cluster {
	t.Helper()
	return NewWithReplicas(t, masters, 0)
}

// NewWithReplicas starts a cluster of masters with replicas each (so a killed master fails
// over to its replica) and stops it when the test ends.
func NewWithReplicas(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("testrediscluster: a cluster needs at least 3 masters, got %d", masters)
	}
	cli := findTool(t, "redis-cli")
	c := StartNodes(t, masters*(1+replicas))
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitOK()
	return c
}

// StartNodes starts n cluster-enabled redis-server nodes that know nothing of each other yet
// (for a test of how they are joined), and stops them when the test ends.
func StartNodes(t testing.TB, n int) *Cluster {
	t.Helper()
	server := findTool(t, "redis-server")
	c := &Cluster{t: t}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.kill()
			if t.Failed() {
				t.Logf("redis-server log (port %d):\n%s", n.port, n.log.String())
			}
		}
	})
	for range n {
		c.nodes = append(c.nodes, startNode(t, server))
	}
	return c
}

// Addrs are host:port of every node, killed ones included.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = addr(n.port)
	}
	return addrs
}

// URL is the cluster in go-redis's cluster URL form: redis://first?addr=second&addr=third.
func (c *Cluster) URL() string {
	addrs := c.Addrs()
	u := "redis://" + addrs[0]
	for i, a := range addrs[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + a
	}
	return u
}

// Client returns a cluster client, closed when the test ends.
func (c *Cluster) Client() *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), PoolSize: 4})
	c.t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// WaitOK waits until every running node reports cluster_state:ok and knows every slot, and
// every replica is in sync with its master.
func (c *Cluster) WaitOK() {
	c.t.Helper()
	deadline := time.Now().Add(startTimeout)
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: addr(n.port), PoolSize: 1, MaxRetries: -1})
		for {
			info, err := cl.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_assigned:16384") {
				repl, rerr := cl.Info(context.Background(), "replication").Result()
				if rerr == nil && (!strings.Contains(repl, "role:slave") || strings.Contains(repl, "master_link_status:up")) {
					break
				}
			}
			if time.Now().After(deadline) {
				_ = cl.Close()
				c.t.Fatalf("node %d: cluster not ok within %s: %q %v", n.port, startTimeout, info, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = cl.Close()
	}
}

// Kill kills node i (SIGKILL, as a crash would) and waits for it to exit.
func (c *Cluster) Kill(i int) { c.nodes[i].kill() }

// KillMasterOf kills the master serving key and waits until a replica has taken its slots
// over and the cluster is ok again.
func (c *Cluster) KillMasterOf(key string) {
	c.t.Helper()
	cc := c.Client()
	ctx := context.Background()
	m, err := cc.MasterForKey(ctx, key)
	if err != nil {
		c.t.Fatalf("master of %q: %v", key, err)
	}
	dead := m.Options().Addr
	for _, n := range c.nodes {
		if addr(n.port) == dead {
			n.kill()
		}
	}
	slot := int(cc.ClusterKeySlot(ctx, key).Val())
	deadline := time.Now().Add(startTimeout)
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: addr(n.port), PoolSize: 1, MaxRetries: -1})
		for ownerOf(ctx, cl, slot) == dead || ownerOf(ctx, cl, slot) == "" {
			if time.Now().After(deadline) {
				_ = cl.Close()
				c.t.Fatalf("slot %d of killed master %s not taken over within %s", slot, dead, startTimeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = cl.Close()
	}
	c.WaitOK()
}

// OwnerOfSlot is the address of the master serving slot, as a running node sees it; empty when
// none knows.
func (c *Cluster) OwnerOfSlot(slot int) string {
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		cl := redis.NewClient(&redis.Options{Addr: addr(n.port), PoolSize: 1, MaxRetries: -1})
		owner := ownerOf(context.Background(), cl, slot)
		_ = cl.Close()
		return owner
	}
	return ""
}

// ownerOf is the address serving slot as cl sees it; empty when unknown.
func ownerOf(ctx context.Context, cl *redis.Client, slot int) string {
	shards, err := cl.ClusterShards(ctx).Result()
	if err != nil {
		return ""
	}
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if int64(slot) < r.Start || int64(slot) > r.End {
				continue
			}
			for _, n := range sh.Nodes {
				if n.Role == "master" && n.Health == "online" {
					return net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
				}
			}
		}
	}
	return ""
}

func startNode(t testing.TB, bin string) *node {
	t.Helper()
	dir := t.TempDir()
	var n *node
	err := testproc.OnFreePort(t, func(port int) error {
		n = &node{port: port, log: &testproc.Output{}}
		return n.start(bin, dir)
	})
	if err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	return n
}

func (n *node) start(bin, dir string) error {
	// The cluster bus listens on port+10000: keep the data port low enough for it.
	if n.port > 55535 {
		return fmt.Errorf("port %d leaves no room for the cluster bus", n.port)
	}
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(n.port),
		"--bind", "127.0.0.1",
		"--cluster-enabled", "yes",
		"--cluster-config-file", filepath.Join(dir, "nodes-"+strconv.Itoa(n.port)+".conf"),
		"--cluster-node-timeout", "1000",
		// A test kills a master soon after the start: let its replica sync at once and take over
		// however old its data.
		"--repl-diskless-sync-delay", "0",
		"--cluster-replica-validity-factor", "0",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
		"--logfile", "",
	)
	cmd.Stdout, cmd.Stderr = n.log, n.log
	cmd.SysProcAttr = sysProcAttr()
	c := redis.NewClient(&redis.Options{Addr: addr(n.port), PoolSize: 1, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	proc, err := testproc.Start(cmd, "redis-server", startTimeout, 20*time.Millisecond,
		func(ctx context.Context) error { return c.Ping(ctx).Err() })
	if err != nil {
		return err
	}
	n.proc = proc
	return nil
}

func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil
}

func (n *node) kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return
	}
	_ = n.proc.P.Kill()
	<-n.proc.Exited
	n.proc = nil
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// findTool fails the test when the tool is missing: CI installs it with redis-server.
func findTool(t testing.TB, name string) string {
	t.Helper()
	if p := "/usr/bin/" + name; fileExists(p) {
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required for Redis Cluster tests (apt-get install redis-server): %v", name, err)
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// MoveSlotOf moves the slot of key from its master to another master, as an operator's
// resharding (`redis-cli --cluster reshard`) would: IMPORTING on the target, MIGRATING on the
// source, its keys moved with MIGRATE, then SETSLOT NODE on every master. It returns the new
// owner's address once every master agrees.
func (c *Cluster) MoveSlotOf(key string) string {
	c.t.Helper()
	ctx := context.Background()
	cc := c.Client()
	slot := int(cc.ClusterKeySlot(ctx, key).Val())
	src, err := cc.MasterForKey(ctx, key)
	if err != nil {
		c.t.Fatalf("master of %q: %v", key, err)
	}
	shards, err := cc.ClusterShards(ctx).Result()
	if err != nil {
		c.t.Fatal(err)
	}
	var masters []*redis.Client
	for _, sh := range shards {
		for _, n := range sh.Nodes {
			if n.Role == "master" && n.Health == "online" {
				a := net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
				masters = append(masters, redis.NewClient(&redis.Options{Addr: a, PoolSize: 1}))
			}
		}
	}
	defer func() {
		for _, m := range masters {
			_ = m.Close()
		}
	}()
	var from, to *redis.Client
	for _, m := range masters {
		if m.Options().Addr == src.Options().Addr {
			from = m
		} else if to == nil {
			to = m
		}
	}
	if from == nil || to == nil {
		c.t.Fatalf("slot %d: no source or target among %d masters", slot, len(masters))
	}
	fromID, toID := from.ClusterMyID(ctx).Val(), to.ClusterMyID(ctx).Val()
	must := func(what string, err error) {
		if err != nil {
			c.t.Fatalf("moving slot %d: %s: %v", slot, what, err)
		}
	}
	must("importing", to.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", fromID).Err())
	must("migrating", from.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", toID).Err())
	host, port, _ := net.SplitHostPort(to.Options().Addr)
	for {
		keys, err := from.ClusterGetKeysInSlot(ctx, slot, 100).Result()
		must("keys", err)
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		must("migrate", from.Do(ctx, args...).Err())
	}
	// The target first, then the source, then the rest: the order redis-cli uses.
	must("node (target)", to.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", toID).Err())
	must("node (source)", from.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", toID).Err())
	for _, m := range masters {
		if m != to && m != from {
			must("node", m.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", toID).Err())
		}
	}
	deadline := time.Now().Add(startTimeout)
	for _, m := range masters {
		for ownerOf(ctx, m, slot) != to.Options().Addr {
			if time.Now().After(deadline) {
				c.t.Fatalf("slot %d: %s does not see it on %s within %s", slot, m.Options().Addr, to.Options().Addr, startTimeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return to.Options().Addr
}
