package deploy_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"circly/internal/testrediscluster"

	"github.com/redis/go-redis/v9"
)

type clusterCompose struct {
	Services map[string]struct {
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	} `yaml:"services"`
}

// TestComposeOnRedisCluster: compose.cluster.yaml runs six cluster nodes, joins them with the
// tested init script, and points the api replicas at them in cluster mode, after the join.
func TestComposeOnRedisCluster(t *testing.T) {
	var c clusterCompose
	readYAML(t, "../compose.cluster.yaml", &c)
	var nodes []string
	for name, s := range c.Services {
		if strings.HasPrefix(name, "redis-") && name != "redis-cluster-init" {
			if cmd := strings.Join(s.Command, " "); !strings.Contains(cmd, "--cluster-enabled yes") {
				t.Errorf("%s does not run in cluster mode: %q", name, cmd)
			}
			nodes = append(nodes, name+":6379")
		}
	}
	slices.Sort(nodes)
	if len(nodes) != 6 {
		t.Fatalf("cluster nodes %v, want 6 (3 masters with a replica each)", nodes)
	}
	init := c.Services["redis-cluster-init"]
	if !slices.Contains(init.Volumes, "./deploy/redis-cluster/init.sh:/init.sh:ro") {
		t.Errorf("init mounts %v, want the tested script", init.Volumes)
	}
	if got := init.Command; len(got) < 2 || got[1] != "/init.sh" || !slices.Equal(slices.Sorted(slices.Values(got[2:])), nodes) {
		t.Errorf("init command %v, want sh /init.sh and every node %v", got, nodes)
	}
	if init.Environment["REPLICAS"] != "1" {
		t.Errorf("init REPLICAS=%q, want 1", init.Environment["REPLICAS"])
	}
	api := c.Services["api"]
	if api.Environment["REDIS_CLUSTER"] != "true" {
		t.Errorf("api REDIS_CLUSTER=%q", api.Environment["REDIS_CLUSTER"])
	}
	opts, err := redis.ParseClusterURL(api.Environment["REDIS_URL"])
	if err != nil {
		t.Fatalf("api REDIS_URL: %v", err)
	}
	for _, a := range opts.Addrs {
		if !slices.Contains(nodes, a) {
			t.Errorf("api REDIS_URL names %s, not a cluster node", a)
		}
	}
	if api.DependsOn["redis-cluster-init"].Condition != "service_completed_successfully" {
		t.Errorf("api must wait for the cluster to be joined: %v", api.DependsOn)
	}
}

// TestRedisClusterInitScript runs deploy/redis-cluster/init.sh against six real, unjoined
// cluster nodes: it forms 3 masters with a replica each, and a second run (a restart of the
// stack) leaves the formed cluster alone.
func TestRedisClusterInitScript(t *testing.T) {
	if out, err := exec.Command("shellcheck", "redis-cluster/init.sh").CombinedOutput(); err != nil {
		t.Fatalf("shellcheck (Debian: shellcheck): %v\n%s", err, out)
	}
	c := testrediscluster.StartNodes(t, 6)
	run := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", append([]string{"redis-cluster/init.sh"}, c.Addrs()...)...)
		cmd.Env = append(os.Environ(), "REPLICAS=1", "TRIES=30")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("init.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := run(); !strings.Contains(out, "init: cluster ok") {
		t.Fatalf("first run:\n%s", out)
	}
	c.WaitOK()
	// Every node learns the replicas' roles by gossip: wait until one sees 3 shards of 2 nodes.
	var shards []redis.ClusterShard
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		shards, err = c.Client().ClusterShards(context.Background()).Result()
		if err == nil && len(shards) == 3 && !slices.ContainsFunc(shards, func(sh redis.ClusterShard) bool { return len(sh.Nodes) != 2 }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want 3 shards of a master and a replica, got %+v (%v)", shards, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := run(); !strings.Contains(out, "already formed") {
		t.Fatalf("second run did not find the cluster formed:\n%s", out)
	}
}
