package deploy_test

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// iniSettings reads the [pgbouncer] section of a pgbouncer.ini as key -> value.
func iniSettings(ini string) map[string]string {
	out := map[string]string{}
	section := ""
	for _, line := range strings.Split(ini, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && section == "pgbouncer" && !strings.HasPrefix(line, ";") {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// pooledURLOK says what is wrong with a DATABASE_URL through pgbouncer at host:port, or "".
func pooledURLOK(raw, host string, port int) string {
	u, err := url.Parse(raw)
	if err != nil {
		return err.Error()
	}
	if u.Hostname() != host || u.Port() != strconv.Itoa(port) {
		return "does not point at " + host + ":" + strconv.Itoa(port)
	}
	// Transaction pooling keeps no prepared statement between transactions (pgbouncer < 1.21).
	if m := u.Query().Get("default_query_exec_mode"); m != "exec" && m != "simple_protocol" {
		return "lacks default_query_exec_mode=exec (pgx's default prepares named statements)"
	}
	return ""
}

// TestPgBouncerInFrontOfPostgres: the Kubernetes replicas and the compose api replicas reach
// PostgreSQL through pgbouncer in transaction pooling mode with a URL that works there, while
// the migrate Job and compose's migrate stay direct; pgbouncer takes every replica's pool.
func TestPgBouncerInFrontOfPostgres(t *testing.T) {
	res := kustomizeResources(t)
	for _, f := range []string{"pgbouncer-configmap.yaml", "pgbouncer-deployment.yaml", "pgbouncer-service.yaml"} {
		if !slices.Contains(res, f) {
			t.Errorf("kustomization.yaml does not list %s", f)
		}
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	readYAML(t, "k8s/pgbouncer-configmap.yaml", &cm)
	ini := iniSettings(cm.Data["pgbouncer.ini"])
	if ini["pool_mode"] != "transaction" {
		t.Errorf("pgbouncer.ini pool_mode=%q, want transaction", ini["pool_mode"])
	}
	listen, _ := strconv.Atoi(ini["listen_port"])

	var dep workload
	readYAML(t, "k8s/pgbouncer-deployment.yaml", &dep)
	var svc struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Port       int    `yaml:"port"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	readYAML(t, "k8s/pgbouncer-service.yaml", &svc)
	if len(svc.Spec.Ports) != 1 || len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("pgbouncer Service ports %v, Deployment containers %v: want one each", svc.Spec.Ports, dep.Spec.Template.Spec.Containers)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != listen || c.Ports[0].Name != svc.Spec.Ports[0].TargetPort {
		t.Errorf("pgbouncer container ports %v, want %s on listen_port %d", c.Ports, svc.Spec.Ports[0].TargetPort, listen)
	}
	for k, v := range svc.Spec.Selector {
		if dep.Metadata.Labels[k] != v {
			t.Errorf("pgbouncer Service selects %s=%s, the Deployment's labels are %v", k, v, dep.Metadata.Labels)
		}
	}

	// The replicas take DATABASE_URL from DATABASE_URL_POOLED; the migrate Job keeps the direct one.
	var api struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Name string `yaml:"name"`
						Env  []struct {
							Name      string `yaml:"name"`
							ValueFrom struct {
								SecretKeyRef struct {
									Key string `yaml:"key"`
								} `yaml:"secretKeyRef"`
							} `yaml:"valueFrom"`
						} `yaml:"env"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	readYAML(t, "k8s/deployment.yaml", &api)
	pooledKey := ""
	for _, ct := range api.Spec.Template.Spec.Containers {
		for _, e := range ct.Env {
			if ct.Name == "circly" && e.Name == "DATABASE_URL" {
				pooledKey = e.ValueFrom.SecretKeyRef.Key
			}
		}
	}
	var secret struct {
		StringData map[string]string `yaml:"stringData"`
	}
	readYAML(t, "k8s/secret.example.yaml", &secret)
	if pooledKey == "" || secret.StringData[pooledKey] == "" {
		t.Fatalf("deployment.yaml's DATABASE_URL comes from secret key %q, which secret.example.yaml lacks", pooledKey)
	}
	if msg := pooledURLOK(secret.StringData[pooledKey], svc.Metadata.Name, svc.Spec.Ports[0].Port); msg != "" {
		t.Errorf("secret %s %s", pooledKey, msg)
	}
	if direct, _ := url.Parse(secret.StringData["DATABASE_URL"]); direct == nil || direct.Hostname() == svc.Metadata.Name {
		t.Errorf("secret DATABASE_URL %q must stay direct: the migrate Job's goose lock is a session lock", secret.StringData["DATABASE_URL"])
	}

	// Sizing: pgbouncer accepts every replica's full pool at the HPA's maximum plus a surge pod.
	var hpa struct {
		Spec struct {
			MaxReplicas int `yaml:"maxReplicas"`
		} `yaml:"spec"`
	}
	readYAML(t, "k8s/hpa.yaml", &hpa)
	maxClients, _ := strconv.Atoi(ini["max_client_conn"])
	const dbMaxOpenConns = 32 // DB_MAX_OPEN_CONNS's default; configmap.yaml does not change it
	if need := (hpa.Spec.MaxReplicas + 1) * dbMaxOpenConns; maxClients < need {
		t.Errorf("pgbouncer max_client_conn=%d, want at least %d ((maxReplicas+1) x DB_MAX_OPEN_CONNS)", maxClients, need)
	}

	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	readYAML(t, "../compose.yaml", &compose)
	apiEnv := compose.Services["api"].Environment
	if msg := pooledURLOK(apiEnv["DATABASE_URL"], "pgbouncer", 5432); msg != "" {
		t.Errorf("compose api DATABASE_URL %s", msg)
	}
	if apiEnv["AUTO_MIGRATE"] != "false" {
		t.Errorf("compose api AUTO_MIGRATE=%q, want false (migrations run direct)", apiEnv["AUTO_MIGRATE"])
	}
	if u, _ := url.Parse(compose.Services["migrate"].Environment["DATABASE_URL"]); u == nil || u.Hostname() != "postgres" {
		t.Errorf("compose migrate must reach postgres directly")
	}
	if compose.Services["pgbouncer"].Environment["POOL_MODE"] != "transaction" {
		t.Errorf("compose pgbouncer POOL_MODE=%q, want transaction", compose.Services["pgbouncer"].Environment["POOL_MODE"])
	}
}
