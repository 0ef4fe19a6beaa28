package monitor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"circly/monitor/smtptest"
)

func TestEmailWithAuth(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: "alerts", Password: "s3cret"})
	e := Email{Addr: srv.Addr, Username: "alerts", Password: "s3cret", From: "monitor@circly.test",
		To: []string{"ops@circly.test", "oncall@circly.test"}, Timeout: 5 * time.Second}
	a := Alert{Kind: KindRecovered, URL: "http://10.0.0.5:8000", After: 95 * time.Second, At: time.Now()}
	if err := e.Send(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Wait(1, 5*time.Second)
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.User != "alerts" || m.From != "monitor@circly.test" || strings.Join(m.To, ",") != "ops@circly.test,oncall@circly.test" {
		t.Errorf("envelope: user %q from %q to %v", m.User, m.From, m.To)
	}
	for _, want := range []string{"Subject: [circly monitor] http://10.0.0.5:8000 recovered", "RECOVERED: http://10.0.0.5:8000 is healthy again after 1m35s"} {
		if !strings.Contains(m.Data, want) {
			t.Errorf("message lacks %q:\n%s", want, m.Data)
		}
	}
}

func TestEmailWrongPasswordIsPermanent(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: "alerts", Password: "s3cret"})
	e := Email{Addr: srv.Addr, Username: "alerts", Password: "wrong", From: "m@circly.test", To: []string{"ops@circly.test"}, Timeout: 5 * time.Second}
	attempts, err := fastRetry.deliver(context.Background(), e, Alert{Kind: KindDown})
	if err == nil || attempts != 1 {
		t.Fatalf("wrong password: %d attempts, %v; want 1 and an error", attempts, err)
	}
}

// TestEmailStartTLS: when the server offers STARTTLS the mail goes encrypted (the certificate
// is httptest's, valid for 127.0.0.1).
func TestEmailStartTLS(t *testing.T) {
	certSrv := httptest.NewTLSServer(nil)
	certSrv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(certSrv.Certificate())
	srv := smtptest.Start(t, smtptest.Options{Username: "alerts", Password: "s3cret",
		TLS: &tls.Config{Certificates: certSrv.TLS.Certificates}})
	e := Email{Addr: srv.Addr, Username: "alerts", Password: "s3cret", From: "m@circly.test", To: []string{"ops@circly.test"},
		Timeout: 5 * time.Second, TLS: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}}
	if err := e.Send(context.Background(), Alert{Kind: KindDown, URL: "http://x", Detail: "timeout"}); err != nil {
		t.Fatal(err)
	}
	if msgs := srv.Wait(1, 5*time.Second); len(msgs) != 1 {
		t.Fatalf("received %d messages over STARTTLS, want 1", len(msgs))
	}
	// A certificate the sender does not trust: nothing is sent.
	e.TLS = &tls.Config{ServerName: "127.0.0.1"}
	if err := e.Send(context.Background(), Alert{Kind: KindDown}); err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Errorf("untrusted certificate: %v, want a starttls error", err)
	}
}
