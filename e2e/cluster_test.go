package e2e_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testrediscluster"
	"circly/redisbroker"

	"github.com/redis/go-redis/v9"
)

// TestLiveAcrossReplicasOnCluster: two replicas on one PostgreSQL schema and a private
// 3-master Redis Cluster (REDIS_CLUSTER=true, sharded pub/sub). Votes on A reach a watcher on
// B on several polls (so several shards), a removal on A ends the removed member's
// subscriptions on B, and the job locks and rate limits run on the cluster without errors.
func TestLiveAcrossReplicasOnCluster(t *testing.T) {
	pg := testdb.PostgresSchemaURL(t)
	cluster := testrediscluster.New(t, 3)
	secret := "e2e-cluster-secret-0123456789abcdef-" + t.Name()
	env := func() map[string]string {
		e := distributedEnv(t, pg, cluster.URL(), secret)
		e["REDIS_CLUSTER"] = "true"
		e["RATE_LIMIT_REQUESTS"] = "100000" // on, so every request goes through the cluster's limiter
		return e
	}
	A := startProc(t, "replica-A", env())
	B := startProc(t, "replica-B", env())
	A.waitHealthy(90 * time.Second)
	B.waitHealthy(90 * time.Second)

	const n = 6
	users := loginMany(t, "cl", n, A.URL, B.URL)
	circle := must(t, 201, "POST", A.URL+"/v1/circles", users[0].Token, map[string]any{"name": "Cluster", "nickname": "m0"})
	circleID := circle["id"].(string)
	for i := 1; i < n; i++ {
		d := must(t, 200, "POST", A.URL+"/v1/circles/join", users[i].Token,
			map[string]any{"invite_code": circle["invite_code"], "nickname": fmt.Sprintf("m%d", i)})
		users[i].MemberID = d["membership"].(map[string]any)["id"].(string)
	}
	const polls = 4
	watcher := dialLive(t, B.URL, users[1].Token)
	var pollIDs []string
	var options [][]string
	for p := 0; p < polls; p++ {
		poll := must(t, 201, "POST", A.URL+"/v1/polls", users[0].Token, map[string]any{
			"circle_id": circleID, "template_id": firstTemplate(t, A.URL, users[0].Token), "duration_hours": 1})
		pollIDs = append(pollIDs, poll["id"].(string))
		opts, _ := optionsOf(t, poll)
		options = append(options, opts)
		if snap := watcher.subscribe(p+1, "poll:"+pollIDs[p]); num(snap["version"]) != 0 {
			t.Fatalf("snapshot %v", snap)
		}
	}
	removed := dialLive(t, B.URL, users[5].Token)
	removed.subscribe(1, "circle:"+circleID)

	for p, id := range pollIDs {
		for v := 1; v <= 2; v++ {
			must(t, 201, "POST", A.URL+"/v1/polls/"+id+"/vote", users[1+v].Token, map[string]any{"option_id": options[p][0]})
		}
	}
	for _, id := range pollIDs {
		final := watcher.untilVersion("poll:"+id, 2, 10*time.Second)
		if num(final["total_votes"]) != 2 {
			t.Fatalf("poll %s tally %v, want 2 votes", id, final)
		}
	}

	// The replicas use sharded channels only, spread over the masters.
	var sharded, classic atomic.Int64
	var mastersUsed atomic.Int32
	err := cluster.Client().ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		chs := m.PubSubShardChannels(ctx, "*").Val()
		sharded.Add(int64(len(chs)))
		if len(chs) > 0 {
			mastersUsed.Add(1)
		}
		classic.Add(int64(len(m.PubSubChannels(ctx, "*").Val())))
		return nil
	})
	if err != nil || sharded.Load() == 0 || classic.Load() != 0 || mastersUsed.Load() < 2 {
		t.Fatalf("shard channels %d on %d masters, classic channels %d, err %v",
			sharded.Load(), mastersUsed.Load(), classic.Load(), err)
	}
	t.Logf("%d shard channels on %d masters", sharded.Load(), mastersUsed.Load())

	must(t, 200, "DELETE", A.URL+"/v1/circles/"+circleID+"/members/"+users[5].MemberID, users[0].Token, nil)
	for {
		f := removed.read(10 * time.Second)
		if f["type"] != "unsubscribed" {
			continue
		}
		if f["reason"] != "removed" || f["channel"] != "circle:"+circleID {
			t.Fatalf("removed member got %v", f)
		}
		break
	}
}

// TestLiveClusterFailover: the shipped deployment's shape (two replicas on a 3-master,
// 3-replica Redis Cluster, reaching PostgreSQL only through pgbouncer in transaction pooling,
// migrated directly): the master serving a poll's shard is killed mid-poll; votes go on through
// the failover, and every watcher on both replicas ends on the final tally.
func TestLiveClusterFailover(t *testing.T) {
	pooled, _, _ := pooledDatabase(t, 4)
	cluster := testrediscluster.NewWithReplicas(t, 3, 1)
	secret := "e2e-cluster-secret-0123456789abcdef-" + t.Name()
	env := func() map[string]string {
		e := distributedEnv(t, pooled, cluster.URL(), secret)
		e["REDIS_CLUSTER"] = "true"
		e["AUTO_MIGRATE"] = "false"
		return e
	}
	A := startProc(t, "replica-A", env())
	B := startProc(t, "replica-B", env())
	A.waitHealthy(90 * time.Second)
	B.waitHealthy(90 * time.Second)

	const n = 8
	users := loginMany(t, "fo", n, A.URL, B.URL)
	circle := must(t, 201, "POST", A.URL+"/v1/circles", users[0].Token, map[string]any{"name": "Failover", "nickname": "m0"})
	for i := 1; i < n; i++ {
		d := must(t, 200, "POST", A.URL+"/v1/circles/join", users[i].Token,
			map[string]any{"invite_code": circle["invite_code"], "nickname": fmt.Sprintf("m%d", i)})
		users[i].MemberID = d["membership"].(map[string]any)["id"].(string)
	}
	poll := must(t, 201, "POST", A.URL+"/v1/polls", users[0].Token, map[string]any{
		"circle_id": circle["id"], "template_id": firstTemplate(t, A.URL, users[0].Token), "duration_hours": 1})
	pollCh := "poll:" + poll["id"].(string)
	opts, optionMembers := optionsOf(t, poll)

	var watchers []*wsConn
	for i, base := range []string{A.URL, B.URL, B.URL} {
		w := dialLive(t, base, users[1+i].Token)
		w.subscribe(1, pollCh)
		watchers = append(watchers, w)
	}
	vote := func(i int) { // for the first option that is not the voter
		k := 0
		if optionMembers[0] == users[i].MemberID {
			k = 1
		}
		must(t, 201, "POST", A.URL+"/v1/polls/"+poll["id"].(string)+"/vote", users[i].Token, map[string]any{"option_id": opts[k]})
	}
	vote(1)
	vote(2)
	for _, w := range watchers {
		w.untilVersion(pollCh, 2, 10*time.Second)
	}

	// The poll's Redis channel, named as the replicas name it, tells which master to kill.
	names, err := redisbroker.NewCluster(nil, redisbroker.Options{Prefix: "circly:"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	cluster.KillMasterOf(names.RedisChannel(pollCh))
	for i := 3; i < n; i++ {
		vote(i)
	}
	for _, w := range watchers {
		final := w.untilVersion(pollCh, n-1, 30*time.Second)
		if num(final["total_votes"]) != n-1 {
			t.Fatalf("final tally %v, want %d votes", final, n-1)
		}
	}
}
