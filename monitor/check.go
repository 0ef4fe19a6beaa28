package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// maxHealthBody bounds what is read of an answer: /health/detailed is a few hundred bytes.
const maxHealthBody = 64 << 10

// Observation is one check of one replica.
type Observation struct {
	State  State
	Detail string // why, for the alert: "connection refused", "redis: error", "answered 502"
}

// healthAnswer is the part of /health/detailed the monitor reads.
type healthAnswer struct {
	Status   string `json:"status"`
	Services map[string]struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"services"`
}

// Check asks baseURL's /health/detailed once, within timeout. A 503 whose body names failing
// services is Degraded (the replica runs, a dependency does not); a draining replica, a
// refused connection, a timeout and every other answer are Down.
func Check(ctx context.Context, client *http.Client, baseURL string, timeout time.Duration) Observation {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/health/detailed", nil)
	if err != nil {
		return Observation{State: Down, Detail: err.Error()}
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Observation{State: Down, Detail: fmt.Sprintf("no answer within %s", timeout)}
		}
		return Observation{State: Down, Detail: shortError(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	if err != nil {
		return Observation{State: Down, Detail: "reading the answer: " + shortError(err)}
	}
	if resp.StatusCode == http.StatusOK {
		return Observation{State: Healthy}
	}
	var h healthAnswer
	if resp.StatusCode == http.StatusServiceUnavailable && json.Unmarshal(body, &h) == nil {
		if h.Status == "draining" {
			return Observation{State: Down, Detail: "draining (shutting down)"}
		}
		if failing := failingServices(h); h.Status == "error" && failing != "" {
			return Observation{State: Degraded, Detail: failing}
		}
	}
	return Observation{State: Down, Detail: fmt.Sprintf("answered %d", resp.StatusCode)}
}

// failingServices lists the services that are neither ok nor disabled: "database: unreachable".
func failingServices(h healthAnswer) string {
	var out []string
	for name, s := range h.Services {
		if s.Status != "ok" && s.Status != "disabled" {
			why := s.Error
			if why == "" {
				why = s.Status
			}
			out = append(out, name+": "+why)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// shortError keeps the cause of a transport error ("dial tcp 10.0.0.5:8000: connect:
// connection refused"), not the repeated "Get \"http://…\":" prefix.
func shortError(err error) string {
	s := err.Error()
	if i := strings.Index(s, "\": "); i >= 0 {
		s = s[i+3:]
	}
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
