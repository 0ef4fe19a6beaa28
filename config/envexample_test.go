package config_test

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"circly/config"

	"github.com/joho/godotenv"
)

// envExample is the settings template at the repository root.
const envExample = "../.env.example"

// TestEnvExampleListsEverySetting: .env.example names exactly the variables the config package
// reads, each once and under a comment. The names read are recorded by the lookup itself, in a
// development and a production load, so a new setting cannot be forgotten here.
func TestEnvExampleListsEverySetting(t *testing.T) {
	read := settingsRead(t)
	listed := listedSettings(t)
	for name := range read {
		if !listed[name] {
			t.Errorf("%s: config reads it, .env.example does not list it", name)
		}
	}
	for name := range listed {
		if !read[name] {
			t.Errorf("%s: .env.example lists it, config never reads it", name)
		}
	}
	if len(read) < 30 {
		t.Errorf("recorded only %d settings read (%v): is the lookup still used for every one?", len(read), sortedNames(read))
	}
}

// TestEnvExampleValuesAreDefaults: loading .env.example as the whole environment, with the
// parser `circly` uses for .env, gives the same settings as loading nothing.
func TestEnvExampleValuesAreDefaults(t *testing.T) {
	raw, err := os.ReadFile(envExample)
	if err != nil {
		t.Fatal(err)
	}
	values, err := godotenv.Unmarshal(string(raw))
	if err != nil {
		t.Fatalf("%s: %v", envExample, err)
	}
	fromFile := mustLoad(t, values)
	defaults := mustLoad(t, nil)
	// An empty SECRET_KEY is random at each load in development.
	fromFile.SecretKey, defaults.SecretKey = "", ""
	got, want := reflect.ValueOf(fromFile), reflect.ValueOf(defaults)
	for i := range got.NumField() {
		if !reflect.DeepEqual(got.Field(i).Interface(), want.Field(i).Interface()) {
			t.Errorf("%s: .env.example gives %#v, the default is %#v", got.Type().Field(i).Name,
				got.Field(i).Interface(), want.Field(i).Interface())
		}
	}
}

// settingsRead is every variable FromLookup asks for in a development and a production load,
// and every one MonitorFromLookup asks for.
func settingsRead(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	production := map[string]string{
		"ENV": "production", "DATABASE_URL": "postgres://db/circly", "REDIS_URL": "redis://redis:6379/0",
		"SECRET_KEY": strings.Repeat("k", 32),
	}
	for _, env := range []map[string]string{nil, production} {
		_, err := config.FromLookup(func(name string) (string, bool) {
			names[name] = true
			v, ok := env[name]
			return v, ok
		})
		if err != nil {
			t.Fatalf("load %v: %v", env, err)
		}
	}
	// `circly monitor` reads its own settings; each is read whatever the others say, so the
	// refusal of an empty MONITOR_URLS does not hide one.
	_, _ = config.MonitorFromLookup(func(name string) (string, bool) {
		names[name] = true
		return "", false
	})
	return names
}

var settingLine = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=`)

// listedSettings reads the names of .env.example: every line is blank, a comment or NAME=value,
// and each NAME=value follows a comment that explains it.
func listedSettings(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(envExample)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	previous := ""
	for i, line := range strings.Split(string(raw), "\n") {
		switch m := settingLine.FindStringSubmatch(line); {
		case line == "" || strings.HasPrefix(line, "#"):
		case m == nil:
			t.Errorf("%s:%d: %q is neither a comment nor NAME=value", envExample, i+1, line)
		case names[m[1]]:
			t.Errorf("%s:%d: %s is listed twice", envExample, i+1, m[1])
		case !strings.HasPrefix(previous, "#"):
			names[m[1]] = true
			t.Errorf("%s:%d: %s has no comment above it", envExample, i+1, m[1])
		default:
			names[m[1]] = true
		}
		previous = line
	}
	return names
}

func sortedNames(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
