// Command circly runs the Circly backend: `serve` (default), `migrate up|down|status`,
// `healthcheck` and `version`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
	_ "time/tzdata" // quiet hours and daily limits need IANA zones even in a scratch image

	"circly/config"
	"circly/sqlstore"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "circly:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "circly", version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprintln(stdout, usage)
		return nil
	case "monitor":
		return runMonitor()
	}
	load := config.Load
	if cmd != "serve" {
		load = config.LoadForTool
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	switch cmd {
	case "serve":
		tuneGC(os.Getenv)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return serve(ctx, cfg, nil)
	case "migrate":
		return migrate(cfg, args, stdout)
	case "healthcheck":
		return healthcheck(cfg)
	case "backup":
		return backupCmd(cfg, args, stdout)
	case "restore":
		return restoreCmd(cfg, args, stdout)
	case "admin":
		return adminCmd(cfg, args, stdout)
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

const usage = `usage: circly [serve | migrate up|down|status | healthcheck | monitor | version]
       circly backup [list] | restore [NAME|latest] [--clean]
       circly admin token --operator NAME [--ttl 8h] | admin revoke TOKEN_ID --reason TEXT`

func migrate(cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: circly migrate up|down|status")
	}
	log, err := newLogger(cfg)
	if err != nil {
		return err
	}
	db, err := sqlstore.Open(sqlstore.OpenOptions{PostgresURL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath(), Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := db.Migrator()
	if err != nil {
		return err
	}
	ctx := context.Background()
	switch args[0] {
	case "up":
		res, err := p.Up(ctx)
		for _, r := range res {
			fmt.Fprintf(stdout, "applied %s (%s)\n", r.Source.Path, r.Duration.Round(time.Millisecond))
		}
		if err != nil {
			return err
		}
		installed, err := db.InstallFunctions(ctx)
		for _, name := range installed {
			fmt.Fprintf(stdout, "installed this binary's %s\n", name)
		}
		if err == nil && len(res) == 0 && len(installed) == 0 {
			fmt.Fprintln(stdout, "schema is up to date")
		}
		return err
	case "down":
		n, err := openBallotsBeforeRollback(ctx, cfg, db, log)
		if err != nil {
			return fmt.Errorf("migrate down: open the waiting ballots first: %w", err)
		}
		if n > 0 {
			fmt.Fprintf(stdout, "opened the waiting ballots of %d polls\n", n)
		}
		r, err := p.Down(ctx)
		if r != nil {
			fmt.Fprintf(stdout, "rolled back %s\n", r.Source.Path)
		}
		return err
	case "status":
		st, err := p.Status(ctx)
		for _, m := range st {
			applied := "pending"
			if m.State == "applied" {
				applied = "applied " + m.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(stdout, "%05d %-40s %s\n", m.Source.Version, m.Source.Path, applied)
		}
		return err
	default:
		return fmt.Errorf("unknown migrate action %q: use up, down or status", args[0])
	}
}

// healthcheck asks the local server's /health; the Docker HEALTHCHECK runs it (no curl in the image).
func healthcheck(cfg config.Config) error {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/health", cfg.Port))
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /health answered %d", resp.StatusCode)
	}
	return nil
}
