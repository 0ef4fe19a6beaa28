package config_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"circly/config"
)

// load builds a Config from exactly the given variables.
func load(env map[string]string) (config.Config, error) {
	return config.FromLookup(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

func mustLoad(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	c, err := load(env)
	if err != nil {
		t.Fatalf("FromLookup(%v): %v", env, err)
	}
	return c
}

// TestDefaults holds the settings table of DESIGN.md.
func TestDefaults(t *testing.T) {
	c := mustLoad(t, nil)
	checks := []struct {
		name      string
		got, want any
	}{
		{"PORT", c.Port, 8000},
		{"ENV", c.Env, config.EnvDevelopment},
		{"DATABASE_URL", c.DatabaseURL, ""},
		{"DATA_DIR", c.DataDir, "./data"},
		{"REDIS_URL", c.RedisURL, ""},
		{"PUBLIC_URL", c.PublicURL, "http://localhost:8000"},
		{"ACCESS_TOKEN_TTL", c.AccessTokenTTL, 168 * time.Hour},
		{"TALLY_RELEASE_BATCH", c.TallyReleaseBatch, 3},
		{"POLL_MIN_DURATION", c.PollMinDuration, 5 * time.Minute},
		{"POLL_OPEN_LIMIT", c.PollOpenLimit, 3},
		{"POLL_DAILY_LIMIT", c.PollDailyLimit, 5},
		{"RATE_LIMIT_REQUESTS", c.RateLimitRequests, 100},
		{"RATE_LIMIT_WINDOW", c.RateLimitWindow, 60 * time.Second},
		{"AUTH_RATE_LIMIT (development)", c.AuthRateLimit, 60},
		{"TRUSTED_PROXIES", len(c.TrustedProxies), 0},
		{"EXPO_PUSH_URL", c.ExpoPushURL, "https://exp.host/--/api/v2/push/send"},
		{"EXPO_ACCESS_TOKEN", c.ExpoAccessToken, ""},
		{"MAX_FILE_SIZE", c.MaxFileSize, int64(10485760)},
		{"ALLOWED_FILE_TYPES", c.AllowedFileTypes, []string{"image/jpeg", "image/png"}},
		{"SENTRY_DSN", c.SentryDSN, ""},
		{"LOG_LEVEL", c.LogLevel, "info"},
		{"LOG_FORMAT (development)", c.LogFormat, "console"},
		{"SHUTDOWN_DRAIN", c.ShutdownDrain, 10 * time.Second},
		{"WS_ALLOWED_ORIGINS (PUBLIC_URL's host)", c.WSAllowedOrigins, []string{"localhost:8000"}},
		{"AUTO_MIGRATE (development)", c.AutoMigrate, true},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s default = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	if c.UsesPostgres() || c.UsesRedis() {
		t.Errorf("defaults must be embedded mode: postgres=%v redis=%v", c.UsesPostgres(), c.UsesRedis())
	}
	if got, want := c.SQLitePath(), "data/circly.db"; got != want {
		t.Errorf("SQLitePath() = %q, want %q", got, want)
	}

	// Outside development the log format defaults to json, migrations are not automatic and
	// device logins are limited to 10 per IP per minute.
	s := mustLoad(t, map[string]string{"ENV": "staging", "SECRET_KEY": "staging-secret"})
	if s.LogFormat != "json" || s.AutoMigrate || s.AuthRateLimit != 10 {
		t.Errorf("staging: LOG_FORMAT=%q AUTO_MIGRATE=%v AUTH_RATE_LIMIT=%d, want json, false and 10", s.LogFormat, s.AutoMigrate, s.AuthRateLimit)
	}
}

func TestValuesAreRead(t *testing.T) {
	c := mustLoad(t, map[string]string{
		"PORT": " 9001 ", "ENV": "Staging", "SECRET_KEY": "k", "TALLY_RELEASE_BATCH": "1",
		"POLL_OPEN_LIMIT": "0", "POLL_DAILY_LIMIT": "0", "ACCESS_TOKEN_TTL": "15m",
		"TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1", "PUBLIC_URL": "https://circly.example/",
		"DATABASE_URL": "postgresql://u:p@db:5432/circly", "REDIS_URL": "rediss://cache:6380/0",
		"LOG_LEVEL": "WARN", "AUTO_MIGRATE": "true", "WS_ALLOWED_ORIGINS": "app.circly.example, *.preview.example",
	})
	if !reflect.DeepEqual(c.WSAllowedOrigins, []string{"app.circly.example", "*.preview.example"}) {
		t.Errorf("WS_ALLOWED_ORIGINS = %q", c.WSAllowedOrigins)
	}
	if c.Port != 9001 || c.Env != config.EnvStaging || c.TallyReleaseBatch != 1 || c.PollOpenLimit != 0 ||
		c.PollDailyLimit != 0 || c.AccessTokenTTL != 15*time.Minute || c.LogLevel != "warn" || !c.AutoMigrate {
		t.Errorf("values not read: %+v", c)
	}
	if !reflect.DeepEqual(c.TrustedProxies, []string{"10.0.0.0/8", "192.168.1.1"}) {
		t.Errorf("TRUSTED_PROXIES = %q", c.TrustedProxies)
	}
	if c.PublicURL != "https://circly.example" {
		t.Errorf("PUBLIC_URL = %q, want the trailing slash trimmed", c.PublicURL)
	}
	if !c.UsesPostgres() || !c.UsesRedis() {
		t.Errorf("distributed mode not detected")
	}
}

// TestBadValues: each bad value stops start-up with one line that names the setting.
func TestBadValues(t *testing.T) {
	cases := []struct{ name, value string }{
		{"PORT", "abc"},
		{"PORT", "70000"},
		{"PORT", "0"},
		{"TALLY_RELEASE_BATCH", "0"},
		{"TALLY_RELEASE_BATCH", "-1"},
		{"ENV", "prod"},
		{"LOG_LEVEL", "loud"},
		{"LOG_FORMAT", "xml"},
		{"ACCESS_TOKEN_TTL", "7"},
		{"ACCESS_TOKEN_TTL", "1s"},
		{"DATABASE_URL", "mysql://x"},
		{"REDIS_URL", "memcached://x"},
		{"TRUSTED_PROXIES", "notacidr"},
		{"TRUSTED_PROXIES", "10.0.0.0/8,nope"},
		{"POLL_OPEN_LIMIT", "-1"},
		{"RATE_LIMIT_WINDOW", "soon"},
		{"AUTO_MIGRATE", "maybe"},
		{"PUBLIC_URL", "localhost:8000"},
		{"SHUTDOWN_DRAIN", "-1s"},
		{"MAX_FILE_SIZE", "big"},
		{"WS_ALLOWED_ORIGINS", "https://app.example"},
		{"WS_ALLOWED_ORIGINS", "app.example,[bad"},
	}
	for _, tc := range cases {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			_, err := load(map[string]string{tc.name: tc.value})
			if err == nil {
				t.Fatalf("%s=%q accepted", tc.name, tc.value)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if !strings.Contains(msg, tc.name) {
				t.Errorf("error %q does not name %s", msg, tc.name)
			}
		})
	}
}

// TestBadValueWithNewline: even a value holding a newline yields a one-line error.
func TestBadValueWithNewline(t *testing.T) {
	_, err := load(map[string]string{"PORT": "80\n80"})
	if err == nil || strings.ContainsAny(err.Error(), "\r\n") || !strings.Contains(err.Error(), "PORT") {
		t.Fatalf("err = %q", err)
	}
}

func TestProductionRefusesWeakConfig(t *testing.T) {
	strong := strings.Repeat("s", 32)
	full := map[string]string{
		"ENV": "production", "DATABASE_URL": "postgres://u:p@db/circly", "REDIS_URL": "redis://cache:6379/0",
		"SECRET_KEY": strong,
	}
	c := mustLoad(t, full)
	if c.SecretGenerated || c.SecretKey != strong || c.AutoMigrate || c.LogFormat != "json" {
		t.Errorf("production config: generated=%v autoMigrate=%v format=%q", c.SecretGenerated, c.AutoMigrate, c.LogFormat)
	}

	cases := []struct {
		name    string
		change  map[string]string
		missing []string // settings the error must name
		present []string // settings it must not name
	}{
		{"no DATABASE_URL", map[string]string{"DATABASE_URL": ""}, []string{"DATABASE_URL"}, []string{"REDIS_URL", "SECRET_KEY"}},
		{"no REDIS_URL", map[string]string{"REDIS_URL": ""}, []string{"REDIS_URL"}, []string{"DATABASE_URL", "SECRET_KEY"}},
		{"no SECRET_KEY", map[string]string{"SECRET_KEY": ""}, []string{"SECRET_KEY"}, []string{"DATABASE_URL", "REDIS_URL"}},
		{"short SECRET_KEY", map[string]string{"SECRET_KEY": strings.Repeat("s", 31)}, []string{"SECRET_KEY"}, []string{"DATABASE_URL", "REDIS_URL"}},
		{"nothing", map[string]string{"DATABASE_URL": "", "REDIS_URL": "", "SECRET_KEY": ""}, []string{"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range full {
				env[k] = v
			}
			for k, v := range tc.change {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			_, err := load(env)
			if err == nil {
				t.Fatal("production started with a weak configuration")
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, m := range tc.missing {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not name %s", msg, m)
				}
			}
			for _, p := range tc.present {
				if strings.Contains(msg, p) {
					t.Errorf("error %q names %s, which is set", msg, p)
				}
			}
			if strings.Contains(msg, "p@db") || strings.Contains(msg, strong[:31]) {
				t.Errorf("error leaks a secret: %q", msg)
			}
		})
	}
}

func TestStagingNeedsSecret(t *testing.T) {
	_, err := load(map[string]string{"ENV": "staging"})
	if err == nil || !strings.Contains(err.Error(), "SECRET_KEY") {
		t.Fatalf("staging without SECRET_KEY: err = %v", err)
	}
}

func TestDevelopmentGeneratesSecret(t *testing.T) {
	a := mustLoad(t, nil)
	b := mustLoad(t, nil)
	if !a.SecretGenerated || len(a.SecretKey) < 32 {
		t.Fatalf("generated=%v len=%d, want a generated key of at least 32 bytes", a.SecretGenerated, len(a.SecretKey))
	}
	if a.SecretKey == b.SecretKey {
		t.Error("two generated keys are equal: not random")
	}
	c := mustLoad(t, map[string]string{"SECRET_KEY": "short-is-fine-in-dev"})
	if c.SecretGenerated || c.SecretKey != "short-is-fine-in-dev" {
		t.Errorf("a given key must be kept: generated=%v key=%q", c.SecretGenerated, c.SecretKey)
	}
}

func TestMaskedHidesSecrets(t *testing.T) {
	const (
		secret    = "super-secret-signing-key-0123456789abcdef"
		dbPass    = "db-pa55word"
		redisPass = "redis-pa55word"
		expo      = "expo-token-secret"
	)
	c := mustLoad(t, map[string]string{
		"ENV": "production", "SECRET_KEY": secret, "EXPO_ACCESS_TOKEN": expo,
		"DATABASE_URL": "postgres://circly:" + dbPass + "@db.internal:5432/circly?sslmode=require",
		"REDIS_URL":    "redis://:" + redisPass + "@cache.internal:6379/0",
	})
	m := c.Masked()
	all := fmt.Sprint(m)
	for _, s := range []string{secret, dbPass, redisPass, expo} {
		if strings.Contains(all, s) {
			t.Errorf("Masked() shows %q: %s", s, all)
		}
	}
	db, _ := m["database"].(string)
	if !strings.Contains(db, "db.internal:5432") || !strings.Contains(db, "circly") {
		t.Errorf("database = %q, want host and user kept", db)
	}
	if m["secret_key"] != "***" {
		t.Errorf("secret_key = %v", m["secret_key"])
	}
	if !strings.Contains(fmt.Sprint(m["redis"]), "cache.internal") {
		t.Errorf("redis = %v", m["redis"])
	}

	// A password passed as a query parameter (pgx accepts it there) is hidden too.
	q := mustLoad(t, map[string]string{"DATABASE_URL": "postgres://circly@db/circly?password=" + dbPass + "&sslmode=disable"})
	if s := fmt.Sprint(q.Masked()); strings.Contains(s, dbPass) {
		t.Errorf("Masked() shows a query-string password: %s", s)
	}

	// Embedded mode names the SQLite file and the in-memory broker.
	e := mustLoad(t, map[string]string{"DATA_DIR": "/var/lib/circly"})
	if e.Masked()["database"] != "sqlite:/var/lib/circly/circly.db" || e.Masked()["redis"] != "in-memory" {
		t.Errorf("embedded Masked() = %v", e.Masked())
	}
}
