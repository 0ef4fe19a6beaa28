// Package deploy_test holds the deployment files (Kubernetes, compose, Railway, Procfile, the
// GitHub workflows) to what the service and the operations guide need of them.
package deploy_test

import (
	"encoding/json"
	"maps"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// metricsPort is where /metrics listens in every shipped deployment (METRICS_ADDR=":9102");
// the Prometheus of compose and the Kubernetes scrape settings expect it there.
const metricsPort = 9102

type container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
	} `yaml:"resources"`
}

type podTemplate struct {
	Metadata struct {
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec struct {
		Containers []container `yaml:"containers"`
	} `yaml:"spec"`
}

type workload struct {
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		Template podTemplate `yaml:"template"`
	} `yaml:"spec"`
}

// readYAML decodes one manifest file (a single document) into v.
func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func apiContainer(t *testing.T) (workload, container) {
	t.Helper()
	var d workload
	readYAML(t, "k8s/deployment.yaml", &d)
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "circly" {
			return d, c
		}
	}
	t.Fatal("k8s/deployment.yaml has no container named circly")
	return d, container{}
}

// TestHPAScalesOnCPUAndMemory: 70 % CPU and 80 % memory, both measured against the pod's
// requests, which must therefore be set.
func TestHPAScalesOnCPUAndMemory(t *testing.T) {
	var hpa struct {
		Spec struct {
			ScaleTargetRef struct {
				Kind string `yaml:"kind"`
				Name string `yaml:"name"`
			} `yaml:"scaleTargetRef"`
			MinReplicas int `yaml:"minReplicas"`
			Metrics     []struct {
				Type     string `yaml:"type"`
				Resource struct {
					Name   string `yaml:"name"`
					Target struct {
						Type               string `yaml:"type"`
						AverageUtilization int    `yaml:"averageUtilization"`
					} `yaml:"target"`
				} `yaml:"resource"`
			} `yaml:"metrics"`
		} `yaml:"spec"`
	}
	readYAML(t, "k8s/hpa.yaml", &hpa)
	if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != "circly" {
		t.Errorf("the HPA scales %s/%s, want Deployment/circly", ref.Kind, ref.Name)
	}
	if hpa.Spec.MinReplicas < 2 {
		t.Errorf("minReplicas %d: one replica is an outage on every rollout or node loss", hpa.Spec.MinReplicas)
	}
	targets := map[string]int{}
	for _, m := range hpa.Spec.Metrics {
		if m.Type == "Resource" && m.Resource.Target.Type == "Utilization" {
			targets[m.Resource.Name] = m.Resource.Target.AverageUtilization
		}
	}
	if want := map[string]int{"cpu": 70, "memory": 80}; !maps.Equal(targets, want) {
		t.Errorf("HPA utilization targets %v, want %v", targets, want)
	}
	_, c := apiContainer(t)
	for resource := range targets {
		if c.Resources.Requests[resource] == "" {
			t.Errorf("the circly container requests no %s: the HPA's %s target has nothing to measure against", resource, resource)
		}
	}
}

// TestMetricsOnTheirOwnPort: METRICS_ADDR, the container port named metrics, the scrape
// annotations, the Service and the ServiceMonitor all say 9102; the public http port does not
// carry /metrics.
func TestMetricsOnTheirOwnPort(t *testing.T) {
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	readYAML(t, "k8s/configmap.yaml", &cm)
	if port := addrPort(cm.Data["METRICS_ADDR"]); port != metricsPort {
		t.Errorf("configmap METRICS_ADDR=%q, want port %d", cm.Data["METRICS_ADDR"], metricsPort)
	}

	d, c := apiContainer(t)
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["metrics"] != metricsPort || ports["http"] == metricsPort {
		t.Errorf("container ports %v, want metrics: %d apart from http", ports, metricsPort)
	}
	ann := d.Spec.Template.Metadata.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(metricsPort) ||
		ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("pod annotations %v, want prometheus.io/scrape true, port %d, path /metrics", ann, metricsPort)
	}

	var svc struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			Ports []struct {
				Name       string `yaml:"name"`
				Port       int    `yaml:"port"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	readYAML(t, "k8s/service.yaml", &svc)
	svcPorts := map[string]string{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Name] = strconv.Itoa(p.Port) + "→" + p.TargetPort
	}
	if want := strconv.Itoa(metricsPort) + "→metrics"; svcPorts["metrics"] != want {
		t.Errorf("Service ports %v, want metrics %s", svcPorts, want)
	}

	var sm struct {
		Kind string `yaml:"kind"`
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port string `yaml:"port"`
				Path string `yaml:"path"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	readYAML(t, "k8s/servicemonitor.yaml", &sm)
	if sm.Kind != "ServiceMonitor" || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" ||
		sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("servicemonitor.yaml: %+v, want one endpoint on port metrics, path /metrics", sm)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Metadata.Labels[k] != v {
			t.Errorf("the ServiceMonitor selects %s=%s, the Service's labels are %v", k, v, svc.Metadata.Labels)
		}
	}
	if len(sm.Spec.Selector.MatchLabels) == 0 {
		t.Error("the ServiceMonitor selects no labels")
	}
	// `kubectl apply -k` must work on a cluster without the Prometheus Operator's CRDs.
	if slices.Contains(kustomizeResources(t), "servicemonitor.yaml") {
		t.Error("kustomization.yaml lists servicemonitor.yaml: apply -k then fails where the CRD is missing")
	}

	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	readYAML(t, "../compose.yaml", &compose)
	if addr := compose.Services["api"].Environment["METRICS_ADDR"]; addrPort(addr) != metricsPort {
		t.Errorf("compose api METRICS_ADDR=%q, want port %d (Prometheus scrapes api:%d)", addr, metricsPort, metricsPort)
	}
}

// TestIngressRoutesOnlyTheAPI: by Kubernetes' path matching, the Ingress sends /v1/…, /health and
// the browser pages (/join/…, /static/…) to the http port and nothing of /metrics, /health/detailed or pprof anywhere.
func TestIngressRoutesOnlyTheAPI(t *testing.T) {
	var ing struct {
		Spec struct {
			DefaultBackend any `yaml:"defaultBackend"`
			Rules          []struct {
				HTTP struct {
					Paths []struct {
						Path     string `yaml:"path"`
						PathType string `yaml:"pathType"`
						Backend  struct {
							Service struct {
								Name string `yaml:"name"`
								Port struct {
									Name   string `yaml:"name"`
									Number int    `yaml:"number"`
								} `yaml:"port"`
							} `yaml:"service"`
						} `yaml:"backend"`
					} `yaml:"paths"`
				} `yaml:"http"`
			} `yaml:"rules"`
		} `yaml:"spec"`
	}
	readYAML(t, "k8s/ingress.yaml", &ing)
	if ing.Spec.DefaultBackend != nil {
		t.Error("the Ingress has a defaultBackend: every unrouted path, /metrics included, would reach it")
	}
	routed := func(request string) bool {
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				if matches(p.Path, p.PathType, request) {
					return true
				}
			}
		}
		return false
	}
	for _, public := range []string{"/health", "/v1", "/v1/ws", "/v1/polls/0b6c/live", "/v1/auth/device-login", "/v1/uploads/abc",
		"/join/3f6b7a2e-6c1d-4a52-9a7e-2d1c0b9e8f41", "/join/3f6b7a2e-6c1d-4a52-9a7e-2d1c0b9e8f41/web", "/static/circly.css"} {
		if !routed(public) {
			t.Errorf("the Ingress does not route %s", public)
		}
	}
	for _, private := range []string{"/metrics", "/metrics/", "/health/detailed", "/debug/pprof/", "/v1x", "/"} {
		if routed(private) {
			t.Errorf("the Ingress routes %s", private)
		}
	}
	for _, r := range ing.Spec.Rules {
		for _, p := range r.HTTP.Paths {
			if port := p.Backend.Service.Port; port.Name != "http" || port.Number != 0 {
				t.Errorf("path %s goes to port %+v, want the Service's http port only", p.Path, port)
			}
		}
	}
}

// matches is Kubernetes' Ingress path matching; ImplementationSpecific counts as a match, the
// worst case for what it may expose.
func matches(rulePath, pathType, request string) bool {
	switch pathType {
	case "Exact":
		return request == rulePath
	case "Prefix": // element-wise: /v1 matches /v1 and /v1/ws, not /v1x
		p := strings.TrimSuffix(rulePath, "/")
		return request == p || strings.HasPrefix(request, p+"/")
	default:
		return true
	}
}

// TestImagesFollowTheWorkflow: the deploy workflow renames MANIFEST_IMAGE to this commit's image
// with `kustomize edit set image`, so every container must use that name, and it applies the
// migrate Job alone by a label that Job must carry.
func TestImagesFollowTheWorkflow(t *testing.T) {
	var wf struct {
		Env map[string]string `yaml:"env"`
	}
	readYAML(t, "../.github/workflows/images.yml", &wf)
	name := wf.Env["MANIFEST_IMAGE"]
	if name == "" {
		t.Fatal("images.yml sets no MANIFEST_IMAGE")
	}
	var job workload
	readYAML(t, "k8s/migrate-job.yaml", &job)
	d, _ := apiContainer(t)
	for file, w := range map[string]workload{"deployment.yaml": d, "migrate-job.yaml": job} {
		for _, c := range w.Spec.Template.Spec.Containers {
			if image, _, _ := strings.Cut(c.Image, ":"); image != name {
				t.Errorf("%s: container %s runs %s, but the workflow sets the image of %s", file, c.Name, c.Image, name)
			}
		}
	}
	raw, err := os.ReadFile("../.github/workflows/images.yml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`apply -k deploy/k8s -l ([\w./-]+)=([\w.-]+)`).FindStringSubmatch(string(raw))
	if m == nil {
		t.Fatal("images.yml no longer applies the migrate Job by label (update this test)")
	}
	if job.Metadata.Labels[m[1]] != m[2] {
		t.Errorf("the workflow applies %s=%s, the migrate Job's labels are %v", m[1], m[2], job.Metadata.Labels)
	}
	for _, want := range []string{"linux/amd64,linux/arm64", "docker/setup-qemu-action", "type=sha,format=long",
		"type=ref,event=tag", "kustomize edit set image", `tags: ["v*"]`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("images.yml lacks %q", want)
		}
	}
}

// TestRailwayAndProcfile: Railway finds railway.json at the repository root; it runs at least
// two replicas, migrates before each deploy and health-checks /health. The Procfile says the same
// to Procfile platforms.
func TestRailwayAndProcfile(t *testing.T) {
	raw, err := os.ReadFile("../railway.json")
	if err != nil {
		t.Fatal(err)
	}
	var rw struct {
		Deploy struct {
			NumReplicas      int      `json:"numReplicas"`
			StartCommand     string   `json:"startCommand"`
			PreDeployCommand []string `json:"preDeployCommand"`
			HealthcheckPath  string   `json:"healthcheckPath"`
		} `json:"deploy"`
	}
	if err := json.Unmarshal(raw, &rw); err != nil {
		t.Fatalf("railway.json: %v", err)
	}
	dep := rw.Deploy
	if dep.NumReplicas < 2 || dep.HealthcheckPath != "/health" || !strings.HasSuffix(dep.StartCommand, "circly serve") ||
		len(dep.PreDeployCommand) != 1 || !strings.HasSuffix(dep.PreDeployCommand[0], "circly migrate up") {
		t.Errorf("railway.json deploy = %+v, want numReplicas ≥ 2, /health, circly serve and circly migrate up before", dep)
	}
	if _, err := os.Stat("railway.json"); err == nil {
		t.Error("deploy/railway.json is back: Railway reads the root's railway.json only")
	}
	procfile, err := os.ReadFile("../Procfile")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(procfile), "web: circly serve\nrelease: circly migrate up\n"; got != want {
		t.Errorf("Procfile = %q, want %q", got, want)
	}
}

func kustomizeResources(t *testing.T) []string {
	t.Helper()
	var k struct {
		Resources []string `yaml:"resources"`
	}
	readYAML(t, "k8s/kustomization.yaml", &k)
	for _, r := range k.Resources {
		if _, err := os.Stat("k8s/" + r); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}
	return k.Resources
}

// addrPort is the port of a host:port setting, 0 when there is none.
func addrPort(addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(port)
	return n
}

// TestUploadsOnSharedStorage: every replica keeps DATA_DIR (the uploads) on the one
// ReadWriteMany claim the kustomization creates, and the backup CronJob archives that claim,
// with the image the workflow builds for it.
func TestUploadsOnSharedStorage(t *testing.T) {
	type volume struct {
		Name string `yaml:"name"`
		PVC  *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
	}
	type podSpec struct {
		Containers []struct {
			Image        string `yaml:"image"`
			VolumeMounts []struct {
				Name      string `yaml:"name"`
				MountPath string `yaml:"mountPath"`
			} `yaml:"volumeMounts"`
		} `yaml:"containers"`
		Volumes []volume `yaml:"volumes"`
	}
	dataClaim := func(file string, spec podSpec) string {
		for _, c := range spec.Containers {
			for _, m := range c.VolumeMounts {
				if m.MountPath != "/data" {
					continue
				}
				for _, v := range spec.Volumes {
					if v.Name == m.Name && v.PVC != nil {
						return v.PVC.ClaimName
					}
				}
				t.Errorf("%s: /data (DATA_DIR) is not on a persistent volume claim", file)
			}
		}
		return ""
	}
	var d struct {
		Spec struct {
			Template struct {
				Spec podSpec `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	readYAML(t, "k8s/deployment.yaml", &d)
	var cj struct {
		Spec struct {
			JobTemplate struct {
				Spec struct {
					Template struct {
						Spec podSpec `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			} `yaml:"jobTemplate"`
		} `yaml:"spec"`
	}
	readYAML(t, "k8s/backup-cronjob.yaml", &cj)
	backupSpec := cj.Spec.JobTemplate.Spec.Template.Spec
	claim := dataClaim("deployment.yaml", d.Spec.Template.Spec)
	if got := dataClaim("backup-cronjob.yaml", backupSpec); got != claim || claim == "" {
		t.Errorf("the replicas keep uploads on claim %q, the backup reads %q", claim, got)
	}
	var pvc struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			AccessModes []string `yaml:"accessModes"`
		} `yaml:"spec"`
	}
	readYAML(t, "k8s/uploads-pvc.yaml", &pvc)
	if pvc.Kind != "PersistentVolumeClaim" || pvc.Metadata.Name != claim || !slices.Contains(pvc.Spec.AccessModes, "ReadWriteMany") {
		t.Errorf("uploads-pvc.yaml: %+v, want a ReadWriteMany claim named %q", pvc, claim)
	}
	if !slices.Contains(kustomizeResources(t), "uploads-pvc.yaml") {
		t.Error("kustomization.yaml does not create the uploads claim")
	}

	var wf struct {
		Env map[string]string `yaml:"env"`
	}
	readYAML(t, "../.github/workflows/images.yml", &wf)
	for _, c := range backupSpec.Containers {
		if image, _, _ := strings.Cut(c.Image, ":"); image != wf.Env["MANIFEST_BACKUP_IMAGE"] {
			t.Errorf("backup-cronjob.yaml runs %s, the workflow builds %q", c.Image, wf.Env["MANIFEST_BACKUP_IMAGE"])
		}
	}
	raw, err := os.ReadFile("../.github/workflows/images.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"file: deploy/backup.Dockerfile", `"$MANIFEST_BACKUP_IMAGE=$BACKUP_IMAGE"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("images.yml lacks %q", want)
		}
	}
}
