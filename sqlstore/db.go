package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"go.uber.org/zap"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Dialect names the SQL database behind the store.
type Dialect string

// The two databases Circly runs on.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

//go:embed migrations
var migrationFiles embed.FS

// OpenOptions says where the database is.
type OpenOptions struct {
	PostgresURL  string // empty: SQLite at SQLitePath
	SQLitePath   string
	MaxOpenConns int
	Logger       *zap.Logger
}

// DB is an open database and the dialect it speaks.
type DB struct {
	Gorm    *gorm.DB
	Dialect Dialect
}

// Open connects to PostgreSQL when a URL is given, otherwise opens (and creates) the SQLite file.
func Open(opts OpenOptions) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	cfg := &gorm.Config{
		Logger:                 newGormLogger(log),
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
	if opts.PostgresURL != "" {
		g, err := gorm.Open(postgres.Open(opts.PostgresURL), cfg)
		if err != nil {
			return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
		}
		sqlDB, err := g.DB()
		if err != nil {
			return nil, err
		}
		n := opts.MaxOpenConns
		if n <= 0 {
			n = 32
		}
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		return &DB{Gorm: g, Dialect: Postgres}, nil
	}
	if dir := filepath.Dir(opts.SQLitePath); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	dsn := opts.SQLitePath + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)"
	g, err := gorm.Open(sqlite.Open(dsn), cfg)
	if err != nil {
		return nil, fmt.Errorf("open SQLite %s: %w", opts.SQLitePath, err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, err
	}
	// SQLite has one writer; a single connection makes every transaction wait its turn
	// in Go instead of failing with SQLITE_BUSY.
	sqlDB.SetMaxOpenConns(1)
	return &DB{Gorm: g, Dialect: SQLite}, nil
}

// SQL returns the underlying database/sql handle.
func (d *DB) SQL() *sql.DB {
	s, _ := d.Gorm.DB()
	return s
}

// Close closes the connection pool.
func (d *DB) Close() error { return d.SQL().Close() }

// Ping checks the database answers.
func (d *DB) Ping(ctx context.Context) error { return d.SQL().PingContext(ctx) }

// Migrator applies the versioned migrations for this database's dialect.
func (d *DB) Migrator() (*goose.Provider, error) {
	sub, err := fs.Sub(migrationFiles, "migrations/"+string(d.Dialect))
	if err != nil {
		return nil, err
	}
	var opts []goose.ProviderOption
	dialect := goose.DialectSQLite3
	if d.Dialect == Postgres {
		dialect = goose.DialectPostgres
		// Replicas starting together must not run the same migration twice.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, d.SQL(), sub, opts...)
}

// MigrateUp applies every pending migration and returns how many ran. On PostgreSQL it then
// installs this binary's generated functions where the database has others (plpgsql.go).
func (d *DB) MigrateUp(ctx context.Context) (int, error) {
	p, err := d.Migrator()
	if err != nil {
		return 0, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), err
	}
	_, err = d.InstallFunctions(ctx)
	return len(res), err
}

// CheckSchema fails when migrations are pending or a generated function is not this binary's, so
// a replica never serves an old schema.
func (d *DB) CheckSchema(ctx context.Context) error {
	p, err := d.Migrator()
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return err
	}
	if pending {
		return errors.New("database schema is behind this binary: run `circly migrate up`")
	}
	if d.Dialect == Postgres {
		return d.checkFunctions(ctx)
	}
	return nil
}
