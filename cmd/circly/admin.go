package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"circly"
	"circly/auth"
	"circly/ballot"
	"circly/config"
	"circly/sqlstore"
)

// `circly admin`: operator tokens for the admin API. A token is signed with a key derived from
// SECRET_KEY (so the replicas must share it) and recorded in the database with an audit row,
// so that `circly admin revoke <id>` stops it at once on every replica.

const adminUsage = `usage: circly admin token --operator NAME [--ttl 8h] [--reason TEXT]
       circly admin revoke TOKEN_ID --reason TEXT [--operator NAME]`

func adminCmd(cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(adminUsage)
	}
	if cfg.SecretGenerated {
		return errors.New("admin: SECRET_KEY is not set; operator tokens are signed with it, so set the serving replicas' SECRET_KEY here too")
	}
	switch args[0] {
	case "token":
		return adminToken(cfg, args[1:], stdout)
	case "revoke":
		return adminRevoke(cfg, args[1:], stdout)
	default:
		return fmt.Errorf("unknown admin action %q\n%s", args[0], adminUsage)
	}
}

func adminToken(cfg config.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("admin token", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	operator := fs.String("operator", "", "who the token is for (written to the audit log)")
	ttl := fs.Duration("ttl", 8*time.Hour, "lifetime, at most 720h")
	reason := fs.String("reason", "operator token issued", "why (written to the audit log)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return errors.New(adminUsage)
	}
	if strings.TrimSpace(*reason) == "" {
		return errors.New("admin token: --reason must not be empty")
	}
	t, err := auth.NewOperators(cfg.SecretKey).Issue(*operator, *ttl)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	store, done, err := adminStore(cfg)
	if err != nil {
		return err
	}
	defer done()
	if err := store.RecordOperatorToken(context.Background(), t.ID, t.Operator, strings.TrimSpace(*reason), t.IssuedAt, t.ExpiresAt); err != nil {
		return fmt.Errorf("admin token: record it: %w", err)
	}
	fmt.Fprintln(stdout, t.Token)
	fmt.Fprintf(stdout, "# id %s, operator %s, expires %s; revoke with: circly admin revoke %s --reason ...\n",
		t.ID, t.Operator, t.ExpiresAt.Format(time.RFC3339), t.ID)
	return nil
}

func adminRevoke(cfg config.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("admin revoke", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	reason := fs.String("reason", "", "why (required, written to the audit log)")
	operator := fs.String("operator", "cli", "who revokes (written to the audit log)")
	// The id may come before or after the flags.
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return errors.New(adminUsage)
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() != 0 || id == "" {
		return errors.New(adminUsage)
	}
	if strings.TrimSpace(*reason) == "" {
		return errors.New("admin revoke: --reason is required: every operator action says why")
	}
	if !auth.ValidOperatorName(*operator) {
		return errors.New("admin revoke: --operator: 1-64 letters, digits or . _ @ -")
	}
	store, done, err := adminStore(cfg)
	if err != nil {
		return err
	}
	defer done()
	if err := store.RevokeOperatorToken(context.Background(), id, *operator, strings.TrimSpace(*reason)); err != nil {
		return fmt.Errorf("admin revoke: %w", err)
	}
	fmt.Fprintf(stdout, "revoked %s\n", id)
	return nil
}

// adminStore opens the database for the admin commands. They never seal or open a ballot, so
// the store gets a box with a throwaway key.
func adminStore(cfg config.Config) (*sqlstore.Store, func(), error) {
	log, err := newLogger(cfg)
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlstore.Open(sqlstore.OpenOptions{PostgresURL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath(), Logger: log})
	if err != nil {
		return nil, nil, err
	}
	key, err := ballot.DeriveKey("circly admin commands never seal a ballot")
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	box, err := ballot.NewBox(key)
	if err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return sqlstore.NewStore(db, circly.DefaultPolicy(), box), func() { _ = db.Close() }, nil
}

// ladderOf is the sanctions ladder from SANCTION_LADDER.
func ladderOf(cfg config.Config) circly.Ladder {
	out := make(circly.Ladder, len(cfg.SanctionLadder))
	for i, s := range cfg.SanctionLadder {
		out[i] = circly.SanctionStep{Duration: s.Duration, Remove: s.Remove}
	}
	return out
}
