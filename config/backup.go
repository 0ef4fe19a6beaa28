package config

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Backup is where `circly backup` and `circly restore` keep the off-site copies: an
// S3-compatible bucket. Only those commands need it (Check); serve ignores it.
type Backup struct {
	Endpoint      string // scheme://host[:port], e.g. https://s3.eu-central-1.amazonaws.com
	Secure        bool   // https (false only with BACKUP_S3_INSECURE=true)
	Bucket        string
	AccessKey     string
	SecretKey     string
	Region        string
	Prefix        string // key prefix of every object this service writes, e.g. "circly/"
	RetentionDays int    // backups older than this are deleted after a good backup
}

func (r *reader) backup() Backup {
	b := Backup{
		Endpoint:      r.str("BACKUP_S3_ENDPOINT", ""),
		Bucket:        r.str("BACKUP_S3_BUCKET", ""),
		AccessKey:     r.str("BACKUP_S3_ACCESS_KEY", ""),
		SecretKey:     r.str("BACKUP_S3_SECRET_KEY", ""),
		Region:        r.str("BACKUP_S3_REGION", "us-east-1"),
		Prefix:        r.str("BACKUP_S3_PREFIX", "circly/"),
		RetentionDays: r.intRange("BACKUP_RETENTION_DAYS", 7, 1, 3650),
	}
	insecure := r.boolean("BACKUP_S3_INSECURE", false)
	if b.Endpoint != "" {
		u, err := url.Parse(b.Endpoint)
		switch {
		case err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil:
			r.fail("BACKUP_S3_ENDPOINT", b.Endpoint, "expects scheme://host[:port] such as https://s3.eu-central-1.amazonaws.com (no path: the bucket is BACKUP_S3_BUCKET)")
		case u.Scheme == "https":
			b.Secure = true
		case u.Scheme == "http" && !insecure:
			r.fail("BACKUP_S3_ENDPOINT", b.Endpoint, "http:// sends the keys and the backups unencrypted; use https:// or set BACKUP_S3_INSECURE=true")
		case u.Scheme != "http":
			r.fail("BACKUP_S3_ENDPOINT", b.Endpoint, "expects an http:// or https:// URL")
		}
		if u != nil {
			b.Endpoint = u.Scheme + "://" + u.Host
		}
	}
	if strings.HasPrefix(b.Prefix, "/") || strings.Contains(b.Prefix, "..") {
		r.fail("BACKUP_S3_PREFIX", b.Prefix, "expects a key prefix such as circly/ (no leading slash, no ..)")
	}
	if b.Prefix != "" && !strings.HasSuffix(b.Prefix, "/") {
		b.Prefix += "/"
	}
	return b
}

// Host is the endpoint without its scheme, as S3 clients take it.
func (b Backup) Host() string {
	u, err := url.Parse(b.Endpoint)
	if err != nil {
		return b.Endpoint
	}
	return u.Host
}

// CheckBackup tells what `circly backup` and `circly restore` miss, naming the settings.
func (c Config) CheckBackup() error {
	var missing []string
	if c.DatabaseURL == "" {
		missing = append(missing, "DATABASE_URL (backups are of PostgreSQL)")
	}
	for name, v := range map[string]string{
		"BACKUP_S3_ENDPOINT": c.Backup.Endpoint, "BACKUP_S3_BUCKET": c.Backup.Bucket,
		"BACKUP_S3_ACCESS_KEY": c.Backup.AccessKey, "BACKUP_S3_SECRET_KEY": c.Backup.SecretKey,
	} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return errors.New("backups need " + strings.Join(missing, ", "))
}

// String is the bucket as logs show it (no keys).
func (b Backup) String() string {
	return fmt.Sprintf("%s/%s/%s", b.Endpoint, b.Bucket, b.Prefix)
}
