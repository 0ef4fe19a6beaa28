package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxMonitorURLs bounds MONITOR_URLS: one monitor watches a fleet, not the internet.
const maxMonitorURLs = 100

// Monitor is the settings of `circly monitor`, which watches replicas from outside: it needs
// neither the database nor Redis, so it reads only these.
type Monitor struct {
	URLs     []string // replica base URLs, without a trailing slash
	Interval time.Duration
	Timeout  time.Duration // of one /health/detailed request
	// StableChecks is how many checks in a row a better state must pass before it counts
	// (recovered, or down → degraded); worse states count at once.
	StableChecks int

	WebhookURL string // Slack-compatible incoming webhook; empty: none
	SMTP       SMTP   // Addr empty: no e-mail

	LogLevel  string
	LogFormat string
}

// SMTP is where alert e-mails go.
type SMTP struct {
	Addr     string // host:port
	Username string // empty: no AUTH
	Password string
	From     string
	To       []string
}

// LoadMonitor reads a .env file when present, then the environment, for `circly monitor`.
func LoadMonitor() (Monitor, error) {
	if err := readDotEnv(); err != nil {
		return Monitor{}, err
	}
	return MonitorFromLookup(os.LookupEnv)
}

// MonitorFromLookup builds the monitor's settings from any variable source (tests pass a map).
func MonitorFromLookup(lookup func(string) (string, bool)) (Monitor, error) {
	r := reader{lookup: lookup}
	env := r.oneOf("ENV", EnvDevelopment, EnvDevelopment, EnvStaging, EnvProduction)
	defaultFormat := "json"
	if env == EnvDevelopment {
		defaultFormat = "console"
	}
	m := Monitor{
		URLs:         r.baseURLs("MONITOR_URLS"),
		Interval:     r.duration("MONITOR_INTERVAL", 30*time.Second, 100*time.Millisecond),
		Timeout:      r.duration("MONITOR_TIMEOUT", 10*time.Second, 100*time.Millisecond),
		StableChecks: r.intRange("MONITOR_STABLE_CHECKS", 3, 1, 100),
		WebhookURL:   r.webhookURL("ALERT_WEBHOOK_URL"),
		SMTP: SMTP{
			Addr:     r.hostPort("SMTP_ADDR"),
			Username: r.str("SMTP_USERNAME", ""),
			Password: r.str("SMTP_PASSWORD", ""),
			From:     r.str("ALERT_EMAIL_FROM", ""),
			To:       r.list("ALERT_EMAIL_TO", ""),
		},
		LogLevel:  r.oneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		LogFormat: r.oneOf("LOG_FORMAT", defaultFormat, "json", "console"),
	}
	if r.err != nil {
		return Monitor{}, r.err
	}
	return m, m.check()
}

// check holds the rules between settings.
func (m Monitor) check() error {
	if len(m.URLs) == 0 {
		return errors.New("MONITOR_URLS: required by circly monitor (comma-separated replica base URLs such as http://10.0.0.5:8000)")
	}
	if err := m.SMTP.check(); err != nil {
		return err
	}
	if m.WebhookURL == "" && m.SMTP.Addr == "" {
		return errors.New("ALERT_WEBHOOK_URL or SMTP_ADDR: circly monitor needs somewhere to send alerts (a Slack-compatible webhook, e-mail, or both)")
	}
	return nil
}

func (s SMTP) check() error {
	if s.Addr == "" {
		if s.Username != "" || s.Password != "" || s.From != "" || len(s.To) > 0 {
			return errors.New("SMTP_ADDR: required when SMTP_USERNAME, SMTP_PASSWORD, ALERT_EMAIL_FROM or ALERT_EMAIL_TO is set")
		}
		return nil
	}
	if host, _, _ := net.SplitHostPort(s.Addr); host == "" {
		return fmt.Errorf("SMTP_ADDR=%q is invalid: expects host:port such as smtp.example.com:587", s.Addr)
	}
	if (s.Username == "") != (s.Password == "") {
		return errors.New("SMTP_USERNAME and SMTP_PASSWORD: set both or neither")
	}
	if s.From == "" {
		return errors.New("ALERT_EMAIL_FROM: required with SMTP_ADDR")
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		return fmt.Errorf("ALERT_EMAIL_FROM=%q is invalid: expects an e-mail address", s.From)
	}
	if len(s.To) == 0 {
		return errors.New("ALERT_EMAIL_TO: required with SMTP_ADDR (comma-separated e-mail addresses)")
	}
	if len(s.To) > 50 {
		return errors.New("ALERT_EMAIL_TO: at most 50 addresses (use a mailing list)")
	}
	for _, to := range s.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return fmt.Errorf("ALERT_EMAIL_TO: %q is not an e-mail address", to)
		}
	}
	return nil
}

// Masked returns the monitor's settings as log fields with secrets hidden (a Slack webhook
// URL is a credential).
func (m Monitor) Masked() map[string]any {
	return map[string]any{
		"urls": m.URLs, "interval": m.Interval.String(), "timeout": m.Timeout.String(),
		"stable_checks": m.StableChecks, "webhook": mask(m.WebhookURL),
		"smtp_addr": m.SMTP.Addr, "smtp_username": m.SMTP.Username, "smtp_password": mask(m.SMTP.Password),
		"email_to": m.SMTP.To,
	}
}

// baseURLs reads absolute http(s) URLs without query or fragment, distinct, at most maxMonitorURLs.
func (r *reader) baseURLs(name string) []string {
	out := r.list(name, "")
	if len(out) > maxMonitorURLs {
		r.fail(name, strconv.Itoa(len(out))+" URLs", fmt.Sprintf("expects at most %d URLs", maxMonitorURLs))
		return nil
	}
	seen := map[string]bool{}
	for i, raw := range out {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			r.fail(name, raw, "expects comma-separated base URLs such as http://10.0.0.5:8000 (http or https, no query)")
			return nil
		}
		out[i] = strings.TrimRight(raw, "/")
		if seen[out[i]] {
			r.fail(name, raw, "lists the same URL twice")
			return nil
		}
		seen[out[i]] = true
	}
	return out
}

// webhookURL reads an absolute http(s) URL; the error never repeats the value (it holds a token).
func (r *reader) webhookURL(name string) string {
	v, ok := r.raw(name)
	if !ok {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		if r.err == nil {
			r.err = fmt.Errorf("%s is invalid: expects an http:// or https:// URL", name)
		}
		return ""
	}
	return v
}
