package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"circly"
	"circly/ballot"
	"circly/config"
	"circly/sqlstore"

	"go.uber.org/zap"
)

// ballotKeyFile keeps the ballot key of a development service that was given no secret, so that
// ballots sealed before a restart still open after it.
const ballotKeyFile = "ballot.key"

// ballotBox is the box every replica seals and opens ballots with: BALLOT_KEY when set, else a
// key derived from SECRET_KEY. Development without either keeps a random key in DATA_DIR.
func ballotBox(cfg config.Config, log *zap.Logger) (*ballot.Box, error) {
	secret := cfg.BallotKey
	if secret == "" && !cfg.SecretGenerated {
		secret = cfg.SecretKey
	}
	if secret == "" {
		var err error
		if secret, err = devBallotSecret(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("BALLOT_KEY: %w", err)
		}
		log.Warn("BALLOT_KEY and SECRET_KEY are not set: ballots are sealed with a key kept in DATA_DIR (development only)",
			zap.String("file", filepath.Join(cfg.DataDir, ballotKeyFile)))
	}
	key, err := ballot.DeriveKey(secret)
	if err != nil {
		return nil, err
	}
	return ballot.NewBox(key)
}

// devBallotSecret reads DATA_DIR/ballot.key, creating it with a random key the first time.
func devBallotSecret(dataDir string) (string, error) {
	path := filepath.Join(dataDir, ballotKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	secret := hex.EncodeToString(k)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) { // another process made it first
		return devBallotSecret(dataDir)
	}
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		_ = f.Close()
		return "", err
	}
	return secret, f.Close()
}

// sealedBallotsVersion is the migration that brought the ballot box.
const sealedBallotsVersion = 7

// openBallotsBeforeRollback opens every waiting ballot when the next `migrate down` would drop
// the box: the older schema counts votes on the poll row and has nowhere to keep them sealed.
func openBallotsBeforeRollback(ctx context.Context, cfg config.Config, db *sqlstore.DB, log *zap.Logger) (int, error) {
	p, err := db.Migrator()
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil || v != sealedBallotsVersion {
		return 0, err
	}
	box, err := ballotBox(cfg, log)
	if err != nil {
		return 0, err
	}
	store := sqlstore.NewStore(db, circly.DefaultPolicy(), box)
	if err := store.CheckBallotKey(ctx); err != nil {
		return 0, err
	}
	return store.OpenAllBallots(ctx)
}
