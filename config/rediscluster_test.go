package config_test

import (
	"strings"
	"testing"
)

func TestRedisCluster(t *testing.T) {
	if c := mustLoad(t, map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0"}); c.RedisCluster {
		t.Error("REDIS_CLUSTER is on by default")
	}
	c := mustLoad(t, map[string]string{"REDIS_CLUSTER": "true", "REDIS_URL": "redis://10.0.0.1:7000?addr=10.0.0.2:7000"})
	if !c.RedisCluster {
		t.Error("REDIS_CLUSTER=true read as off")
	}
	for _, env := range []map[string]string{{"REDIS_CLUSTER": "true"}, {"REDIS_CLUSTER": "yes please", "REDIS_URL": "redis://x:6379"}} {
		if _, err := load(env); err == nil || !strings.Contains(err.Error(), "REDIS_CLUSTER") {
			t.Errorf("%v: err %v, want one naming REDIS_CLUSTER", env, err)
		}
	}
}
