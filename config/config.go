// Package config reads and validates Circly's settings from the environment.
// Nothing else in the program reads environment variables.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"
)

// Environments the service accepts in ENV.
const (
	EnvDevelopment = "development"
	EnvStaging     = "staging"
	EnvProduction  = "production"
)

// Config is every setting of the service, already validated.
type Config struct {
	Port        int
	Env         string
	DatabaseURL string // empty: SQLite under DataDir
	DataDir     string
	RedisURL    string // empty: in-memory broker, limits and locks
	SecretKey   string
	// SecretGenerated is true when SecretKey was made up at start-up (development only).
	SecretGenerated bool
	// BallotKey seals ballots (empty: derived from SecretKey). Set it to rotate SecretKey
	// without stranding ballots sealed under the old one.
	BallotKey string
	PublicURL string

	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration

	TallyReleaseBatch int
	PollMinDuration   time.Duration
	PollMaxDuration   time.Duration
	PollOpenLimit     int // open polls per circle; 0 = no limit
	PollDailyLimit    int // polls per user per day; 0 = no limit

	RateLimitRequests int
	RateLimitWindow   time.Duration
	AuthRateLimit     int
	TrustedProxies    []string

	ExpoPushURL     string
	ExpoAccessToken string

	MaxFileSize      int64
	AllowedFileTypes []string

	SentryDSN string

	// SentryTracesSampleRate is the share (0..1) of HTTP requests and job runs traced to Sentry.
	SentryTracesSampleRate float64

	// MetricsAddr is where /metrics listens ("127.0.0.1:9090", ":9090"); empty: the main port.
	MetricsAddr string
	// MetricsPprof adds net/http/pprof under /debug/pprof/ on METRICS_ADDR (never on the main
	// port): profiles of a live replica for operators and load tests.
	MetricsPprof bool
	// CORSAllowedOrigins are the browser origins allowed to call the API ("*" = any); empty: none.
	CORSAllowedOrigins []string

	LogLevel  string
	LogFormat string

	ShutdownDrain time.Duration
	// ShutdownDelay keeps a draining replica serving (with /health at 503) before the drain, for
	// load balancers that learn only from health checks; Kubernetes' preStop hook does that job.
	ShutdownDelay time.Duration
	// WSAllowedOrigins are host patterns (path.Match, e.g. "*.example.com") of the web pages
	// allowed to open WebSockets cross-origin; empty means PUBLIC_URL's host only.
	WSAllowedOrigins []string
	// AutoMigrate applies pending migrations when serve starts (default: only in development).
	AutoMigrate bool
	// DBMaxOpenConns bounds the PostgreSQL pool of one replica.
	DBMaxOpenConns int
	// WSMaxConnsPerUser is the open WebSocket connections one user may hold on one replica
	// (the contract's 10; load tests that fan one poll out to thousands raise it).
	WSMaxConnsPerUser int
	// ResultsCache keeps ranked poll results in Redis per released version (off by default:
	// docs/benchmarks.md, "Results cache", shows what it saves).
	ResultsCache bool
	// RedisCluster reads REDIS_URL as a Redis Cluster (redis://host1:port?addr=host2:port&...):
	// the broker uses sharded pub/sub; limits and job locks use one key per command.
	RedisCluster bool

	// SanctionLadder is the rungs an account climbs, one per upheld report against it
	// (config/ladder.go).
	SanctionLadder []SanctionStep

	// Backup is the off-site backup bucket (config/backup.go).
	Backup Backup
	// Reports is what members' reports set off (config/reports.go).
	Reports Reports
}

// UsesPostgres tells whether the distributed database is configured.
func (c Config) UsesPostgres() bool { return c.DatabaseURL != "" }

// UsesRedis tells whether Redis is configured.
func (c Config) UsesRedis() bool { return c.RedisURL != "" }

// SQLitePath is the database file used when DATABASE_URL is empty.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "circly.db") }

// Load reads a .env file when present, then the environment, with every check `serve` needs.
func Load() (Config, error) {
	if err := readDotEnv(); err != nil {
		return Config{}, err
	}
	return FromLookup(os.LookupEnv)
}

// LoadForTool is Load for the commands that touch neither Redis nor tokens (`migrate`,
// `healthcheck`): in production they need DATABASE_URL but not REDIS_URL or SECRET_KEY.
func LoadForTool() (Config, error) {
	if err := readDotEnv(); err != nil {
		return Config{}, err
	}
	return fromLookup(os.LookupEnv, false)
}

func readDotEnv() error {
	if _, err := os.Stat(".env"); err == nil {
		if err := godotenv.Load(".env"); err != nil {
			return fmt.Errorf(".env: %w", err)
		}
	}
	return nil
}

// FromLookup builds a Config from any variable source (tests pass a map).
func FromLookup(lookup func(string) (string, bool)) (Config, error) {
	return fromLookup(lookup, true)
}

func fromLookup(lookup func(string) (string, bool), serving bool) (Config, error) {
	r := reader{lookup: lookup}
	c := Config{
		Port:              r.intRange("PORT", 8000, 1, 65535),
		Env:               r.oneOf("ENV", EnvDevelopment, EnvDevelopment, EnvStaging, EnvProduction),
		DatabaseURL:       r.str("DATABASE_URL", ""),
		DataDir:           r.str("DATA_DIR", "./data"),
		RedisURL:          r.str("REDIS_URL", ""),
		SecretKey:         r.str("SECRET_KEY", ""),
		BallotKey:         r.str("BALLOT_KEY", ""),
		PublicURL:         strings.TrimRight(r.str("PUBLIC_URL", "http://localhost:8000"), "/"),
		AccessTokenTTL:    r.duration("ACCESS_TOKEN_TTL", 168*time.Hour, time.Minute),
		RefreshTokenTTL:   r.duration("REFRESH_TOKEN_TTL", 720*time.Hour, time.Minute),
		TallyReleaseBatch: r.intRange("TALLY_RELEASE_BATCH", 3, 1, 1000),
		PollMinDuration:   r.duration("POLL_MIN_DURATION", 5*time.Minute, time.Second),
		PollMaxDuration:   r.duration("POLL_MAX_DURATION", 24*time.Hour, time.Second),
		PollOpenLimit:     r.intRange("POLL_OPEN_LIMIT", 3, 0, 1_000_000),
		PollDailyLimit:    r.intRange("POLL_DAILY_LIMIT", 5, 0, 1_000_000),
		RateLimitRequests: r.intRange("RATE_LIMIT_REQUESTS", 100, 0, 1_000_000_000),
		RateLimitWindow:   r.duration("RATE_LIMIT_WINDOW", 60*time.Second, time.Second),
		TrustedProxies:    r.cidrs("TRUSTED_PROXIES"),
		ExpoPushURL:       r.str("EXPO_PUSH_URL", "https://exp.host/--/api/v2/push/send"),
		ExpoAccessToken:   r.str("EXPO_ACCESS_TOKEN", ""),
		MaxFileSize:       int64(r.intRange("MAX_FILE_SIZE", 10485760, 1, 1<<30)),
		AllowedFileTypes:  r.list("ALLOWED_FILE_TYPES", "image/jpeg,image/png"),
		SentryDSN:         r.str("SENTRY_DSN", ""),
		LogLevel:          r.oneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		ShutdownDrain:     r.duration("SHUTDOWN_DRAIN", 10*time.Second, 0),
		ShutdownDelay:     r.duration("SHUTDOWN_DELAY", 0, 0),
		WSAllowedOrigins:  r.originPatterns("WS_ALLOWED_ORIGINS"),
		DBMaxOpenConns:    r.intRange("DB_MAX_OPEN_CONNS", 32, 1, 1000),
		WSMaxConnsPerUser: r.intRange("WS_MAX_CONNS_PER_USER", 10, 1, 100_000),
	}
	c.ResultsCache = r.boolean("RESULTS_CACHE", false)
	c.RedisCluster = r.boolean("REDIS_CLUSTER", false)
	defaultFormat := "json"
	if c.Env == EnvDevelopment {
		defaultFormat = "console"
	}
	c.LogFormat = r.oneOf("LOG_FORMAT", defaultFormat, "json", "console")
	// Development allows more device logins per IP: one laptop runs the README walk-through,
	// the apps and a browser against it, all from one address.
	authRateLimit := 10
	if c.Env == EnvDevelopment {
		authRateLimit = 60
	}
	c.AuthRateLimit = r.intRange("AUTH_RATE_LIMIT", authRateLimit, 0, 1_000_000_000)
	c.AutoMigrate = r.boolean("AUTO_MIGRATE", c.Env == EnvDevelopment)
	c.MetricsAddr = r.hostPort("METRICS_ADDR")
	c.MetricsPprof = r.boolean("METRICS_PPROF", false)
	c.CORSAllowedOrigins = r.origins("CORS_ALLOWED_ORIGINS")
	c.SentryTracesSampleRate = r.fraction("SENTRY_TRACES_SAMPLE_RATE", 0.1)
	c.SanctionLadder = r.ladder("SANCTION_LADDER")
	c.Backup = r.backup()
	c.Reports = r.reports()
	if r.err != nil {
		return Config{}, r.err
	}
	return c, c.finish(serving)
}

// finish checks the settings that depend on each other; serving adds what `serve` needs.
func (c *Config) finish(serving bool) error {
	if c.DatabaseURL != "" {
		u, err := url.Parse(c.DatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return errors.New("DATABASE_URL: must be a postgres:// or postgresql:// URL")
		}
	}
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return errors.New("REDIS_URL: must be a redis:// or rediss:// URL")
		}
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("PUBLIC_URL: must be an absolute http:// or https:// URL")
	}
	if len(c.WSAllowedOrigins) == 0 {
		u, _ := url.Parse(c.PublicURL)
		c.WSAllowedOrigins = []string{u.Host}
	}
	if c.MetricsPprof && c.MetricsAddr == "" {
		return errors.New("METRICS_PPROF: needs METRICS_ADDR (profiles are never served on the public port)")
	}
	if c.ResultsCache && c.RedisURL == "" {
		return errors.New("RESULTS_CACHE: needs REDIS_URL (the cache is shared by the replicas in Redis)")
	}
	if c.RedisCluster && c.RedisURL == "" {
		return errors.New("REDIS_CLUSTER: needs REDIS_URL (the cluster's nodes: redis://host1:port?addr=host2:port)")
	}
	if c.PollMinDuration > c.PollMaxDuration {
		return errors.New("POLL_MIN_DURATION: must not exceed POLL_MAX_DURATION")
	}
	if c.BallotKey != "" && len(c.BallotKey) < 32 {
		return errors.New("BALLOT_KEY: at least 32 bytes when set (openssl rand -hex 32)")
	}
	if c.Env == EnvProduction {
		var missing []string
		if c.DatabaseURL == "" {
			missing = append(missing, "DATABASE_URL (PostgreSQL)")
		}
		if serving && c.RedisURL == "" {
			missing = append(missing, "REDIS_URL")
		}
		if serving && len(c.SecretKey) < 32 {
			missing = append(missing, "SECRET_KEY (at least 32 bytes)")
		}
		if len(missing) > 0 {
			return fmt.Errorf("ENV=production needs %s", strings.Join(missing, ", "))
		}
	}
	if c.SecretKey == "" {
		if serving && c.Env != EnvDevelopment {
			return fmt.Errorf("SECRET_KEY: required when ENV=%s", c.Env)
		}
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		c.SecretKey = hex.EncodeToString(b)
		c.SecretGenerated = true
	}
	return nil
}

// Masked returns the settings as log fields with secrets hidden.
func (c Config) Masked() map[string]any {
	return map[string]any{
		"port": c.Port, "env": c.Env, "database": maskURL(c.DatabaseURL, "sqlite:"+c.SQLitePath()),
		"redis": maskURL(c.RedisURL, "in-memory"), "public_url": c.PublicURL,
		"secret_key": mask(c.SecretKey), "ballot_key": mask(c.BallotKey), "expo_access_token": mask(c.ExpoAccessToken),
		"tally_release_batch": c.TallyReleaseBatch, "poll_open_limit": c.PollOpenLimit,
		"poll_daily_limit": c.PollDailyLimit, "auto_migrate": c.AutoMigrate,
		"report_hide_poll_at": c.Reports.HidePollAt, "report_hide_member_at": c.Reports.HideMemberAt,
		"report_rate_limit": c.Reports.RateLimit,
	}
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}

func maskURL(raw, empty string) string {
	if raw == "" {
		return empty
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "***"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	// pgx also takes the password (and sslpassword) as query parameters.
	if q := u.Query(); len(q) > 0 {
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// reader collects the first bad setting so Load reports it in one line.
type reader struct {
	lookup func(string) (string, bool)
	err    error
}

func (r *reader) raw(name string) (string, bool) {
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (r *reader) fail(name, value, accepts string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s=%q is invalid: %s", name, value, accepts)
	}
}

func (r *reader) str(name, def string) string {
	if v, ok := r.raw(name); ok {
		return v
	}
	return def
}

func (r *reader) intRange(name string, def, lo, hi int) int {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, v, fmt.Sprintf("expects a whole number from %d to %d", lo, hi))
		return def
	}
	return n
}

func (r *reader) duration(name string, def, lo time.Duration) time.Duration {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo {
		r.fail(name, v, fmt.Sprintf("expects a duration such as 30s or 2h, at least %s", lo))
		return def
	}
	return d
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	v = strings.ToLower(v)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, v, "expects one of "+strings.Join(allowed, ", "))
	return def
}

func (r *reader) boolean(name string, def bool) bool {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, v, "expects true or false")
		return def
	}
	return b
}

func (r *reader) list(name, def string) []string {
	var out []string
	for _, p := range strings.Split(r.str(name, def), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// originPatterns reads host patterns for WebSocket origins; each must be a valid path.Match
// pattern without a scheme ("app.example.com", "*.example.com", "localhost:3000").
func (r *reader) originPatterns(name string) []string {
	out := r.list(name, "")
	for _, p := range out {
		if _, err := path.Match(p, ""); err != nil || strings.Contains(p, "/") {
			r.fail(name, p, "expects comma-separated host patterns such as app.example.com or *.example.com (no scheme)")
		}
	}
	return out
}

func (r *reader) cidrs(name string) []string {
	out := r.list(name, "")
	for _, c := range out {
		if _, _, err := net.ParseCIDR(c); err != nil && net.ParseIP(c) == nil {
			r.fail(name, c, "expects comma-separated CIDRs such as 10.0.0.0/8")
		}
	}
	return out
}

func (r *reader) hostPort(name string) string {
	v, ok := r.raw(name)
	if !ok {
		return ""
	}
	_, port, err := net.SplitHostPort(v)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		r.fail(name, v, "expects host:port or :port, such as 127.0.0.1:9090")
		return ""
	}
	return v
}

// origins reads browser origins: "*" alone, or scheme://host[:port] each, without a path.
func (r *reader) origins(name string) []string {
	out := r.list(name, "")
	for i, o := range out {
		if o == "*" {
			if len(out) > 1 {
				r.fail(name, o, "expects either * alone or a list of origins")
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			r.fail(name, o, "expects comma-separated origins such as https://circly.app (scheme, host and port only)")
			continue
		}
		out[i] = strings.ToLower(u.Scheme + "://" + u.Host)
	}
	return out
}
