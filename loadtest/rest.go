package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Sources hands out local source addresses 127.0.0.<first>…127.0.0.<first+n-1> in turn. One
// source address can hold about 28,000 ports (net.ipv4.ip_local_port_range) across all
// destinations, so tens of thousands of connections, plus the TIME_WAIT sockets a reconnect
// storm leaves behind, need several.
type Sources struct {
	ips  []net.IP
	next atomic.Uint64
	// RcvBuf, when set, is the socket receive buffer (SO_RCVBUF) of each connection. Loopback
	// sockets default to megabytes, so a client that reads slower than the server writes
	// hides a backlog in the kernel where the server cannot conflate it; a phone on a mobile
	// network has a far smaller window.
	RcvBuf int
}

// NewSources makes n loopback source addresses starting at 127.0.0.<first>.
func NewSources(first, n int) *Sources {
	s := &Sources{}
	for i := range max(n, 1) {
		s.ips = append(s.ips, net.IPv4(127, 0, 0, byte(first+i)))
	}
	return s
}

// DialContext dials from the next source address in turn.
func (s *Sources) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	ip := s.ips[s.next.Add(1)%uint64(len(s.ips))]
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second, KeepAlive: -1}
	if s.RcvBuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, s.RcvBuf)
			})
			return errors.Join(err, serr)
		}
	}
	return d.DialContext(ctx, network, addr)
}

// NewHTTPClient is a client for REST calls that keeps up to conns idle connections per replica.
func NewHTTPClient(src *Sources, conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext:         src.DialContext,
		MaxIdleConns:        conns * 4,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// APIError is a non-2xx answer with the contract's error envelope.
type APIError struct {
	Status int
	Code   string
	Msg    string
	Route  string // "POST /v1/auth/device-login"
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s: HTTP %d %s: %s", e.Route, e.Status, e.Code, e.Msg)
	if h := e.Hint(); h != "" {
		msg += " (" + h + ")"
	}
	return msg
}

// Hint names the server setting that refused the request, when a limit meant for real users
// stops a load test: a generator run against `go run ./cmd/circly` meets these first.
func (e *APIError) Hint() string {
	setting := ""
	switch {
	case e.Code == "RATE_LIMIT_EXCEEDED" && strings.HasSuffix(e.Route, "/v1/auth/device-login"):
		setting = "AUTH_RATE_LIMIT=0"
	case e.Code == "RATE_LIMIT_EXCEEDED":
		setting = "RATE_LIMIT_REQUESTS=0"
	case e.Code == "TOO_MANY_POLLS":
		setting = "POLL_DAILY_LIMIT=0"
	case e.Code == "TOO_MANY_ACTIVE_POLLS":
		setting = "POLL_OPEN_LIMIT=0"
	default:
		return ""
	}
	return "the server's " + strings.TrimSuffix(setting, "=0") + " setting refused it: start the server with " + setting + " for load tests"
}

// REST talks to one replica's /v1 API.
type REST struct {
	Base   string // http://127.0.0.1:8000
	Client *http.Client
}

// do sends a JSON request and decodes the envelope's data into out (when not nil).
func (r *REST) do(ctx context.Context, method, path, token string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.Base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		var env struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(raw, &env)
		return &APIError{Status: resp.StatusCode, Code: env.Error.Code, Msg: env.Error.Message, Route: method + " " + path}
	}
	if out == nil {
		return nil
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return json.Unmarshal(env.Data, out)
}

// User is a logged-in device.
type User struct {
	ID    string `json:"user_id"`
	Token string `json:"access_token"`
}

// Login signs a device in (the same device id gives the same user).
func (r *REST) Login(ctx context.Context, deviceID string) (User, error) {
	var u User
	err := r.do(ctx, "POST", "/v1/auth/device-login", "", map[string]any{"device_id": deviceID, "platform": "ios"}, &u, http.StatusOK)
	return u, err
}

// Circle is what setup needs of a circle.
type Circle struct {
	ID         string `json:"id"`
	InviteCode string `json:"invite_code"`
}

// CreateCircle creates a circle with the caller as creator.
func (r *REST) CreateCircle(ctx context.Context, token, name string, maxMembers int, nickname string) (Circle, error) {
	var c Circle
	err := r.do(ctx, "POST", "/v1/circles", token, map[string]any{"name": name, "max_members": maxMembers, "nickname": nickname}, &c, http.StatusCreated)
	return c, err
}

// Join joins a circle by invite code and returns the membership id.
func (r *REST) Join(ctx context.Context, token, code, nickname string) (string, error) {
	var out struct {
		Membership struct {
			ID string `json:"id"`
		} `json:"membership"`
	}
	err := r.do(ctx, "POST", "/v1/circles/join", token, map[string]any{"invite_code": code, "nickname": nickname}, &out, http.StatusOK)
	return out.Membership.ID, err
}

// Option is a poll option.
type Option struct {
	ID       string `json:"id"`
	MemberID string `json:"member_id"`
}

// Poll is what setup needs of a poll.
type Poll struct {
	ID      string   `json:"id"`
	Options []Option `json:"options"`
}

// CreatePoll opens a 24-hour poll on a template.
func (r *REST) CreatePoll(ctx context.Context, token, circleID, templateID string) (Poll, error) {
	var p Poll
	err := r.do(ctx, "POST", "/v1/polls", token, map[string]any{"circle_id": circleID, "template_id": templateID, "duration_hours": 24}, &p, http.StatusCreated)
	return p, err
}

// FirstTemplate is the id of a seeded question template.
func (r *REST) FirstTemplate(ctx context.Context, token string) (string, error) {
	var out struct {
		Templates []struct {
			ID string `json:"id"`
		} `json:"templates"`
	}
	if err := r.do(ctx, "GET", "/v1/templates?limit=1", token, nil, &out, http.StatusOK); err != nil {
		return "", err
	}
	if len(out.Templates) == 0 {
		return "", fmt.Errorf("the server has no question template")
	}
	return out.Templates[0].ID, nil
}

// Vote casts a ballot and returns the released tally version of the answer.
func (r *REST) Vote(ctx context.Context, token, pollID, optionID string) (int64, error) {
	var out struct {
		Tally struct {
			Version int64 `json:"version"`
		} `json:"tally"`
	}
	err := r.do(ctx, "POST", "/v1/polls/"+pollID+"/vote", token, map[string]any{"option_id": optionID}, &out, http.StatusCreated)
	return out.Tally.Version, err
}

// WSURL turns the replica's base URL into its WebSocket URL for path.
func WSURL(base, path string) string {
	return "ws" + strings.TrimPrefix(base, "http") + path
}
