package config_test

import (
	"strings"
	"testing"
)

func TestBackupSettings(t *testing.T) {
	c := mustLoad(t, nil)
	if c.Backup.RetentionDays != 7 || c.Backup.Region != "us-east-1" || c.Backup.Prefix != "circly/" {
		t.Errorf("backup defaults = %+v, want 7 days, us-east-1, circly/", c.Backup)
	}
	if err := c.CheckBackup(); err == nil || !strings.Contains(err.Error(), "BACKUP_S3_BUCKET") || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("CheckBackup with nothing set: %v, want the missing settings named", err)
	}

	full := map[string]string{
		"DATABASE_URL": "postgres://u@h/db", "BACKUP_S3_ENDPOINT": "https://s3.eu-central-1.amazonaws.com/",
		"BACKUP_S3_BUCKET": "b", "BACKUP_S3_ACCESS_KEY": "a", "BACKUP_S3_SECRET_KEY": "s",
		"BACKUP_S3_PREFIX": "prod", "BACKUP_RETENTION_DAYS": "30", "BACKUP_S3_REGION": "eu-central-1",
	}
	c = mustLoad(t, full)
	b := c.Backup
	if !b.Secure || b.Host() != "s3.eu-central-1.amazonaws.com" || b.Prefix != "prod/" || b.RetentionDays != 30 || b.Region != "eu-central-1" {
		t.Errorf("read as %+v", b)
	}
	if err := c.CheckBackup(); err != nil {
		t.Errorf("CheckBackup with everything set: %v", err)
	}

	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range full {
			m[a] = b
		}
		m[k] = v
		return m
	}
	// Plain http only when asked for (the keys and the backups would travel unencrypted).
	plain := with("BACKUP_S3_ENDPOINT", "http://127.0.0.1:9000")
	if _, err := load(plain); err == nil || !strings.Contains(err.Error(), "BACKUP_S3_INSECURE") {
		t.Errorf("http endpoint without BACKUP_S3_INSECURE: err %v, want one naming it", err)
	}
	plain["BACKUP_S3_INSECURE"] = "true"
	if c := mustLoad(t, plain); c.Backup.Secure || c.Backup.Host() != "127.0.0.1:9000" {
		t.Errorf("insecure endpoint read as %+v", c.Backup)
	}

	for _, bad := range []struct{ name, value string }{
		{"BACKUP_S3_ENDPOINT", "s3.amazonaws.com"},
		{"BACKUP_S3_ENDPOINT", "https://s3.amazonaws.com/bucket"},
		{"BACKUP_S3_ENDPOINT", "ftp://s3.amazonaws.com"},
		{"BACKUP_RETENTION_DAYS", "0"},
		{"BACKUP_RETENTION_DAYS", "week"},
		{"BACKUP_S3_PREFIX", "/abs"},
		{"BACKUP_S3_PREFIX", "a/../b"},
		{"BACKUP_S3_INSECURE", "maybe"},
	} {
		if _, err := load(with(bad.name, bad.value)); err == nil || !strings.Contains(err.Error(), bad.name) {
			t.Errorf("%s=%q: err %v, want one naming it", bad.name, bad.value, err)
		}
	}
}
