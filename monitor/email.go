package monitor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// Email sends alerts through an SMTP server: STARTTLS whenever the server offers it, and
// AUTH PLAIN when Username is set (net/smtp refuses that without TLS except to localhost).
// Implicit TLS (port 465) is not supported: use the submission port, 587.
type Email struct {
	Addr     string // host:port
	Username string
	Password string
	From     string
	To       []string
	Timeout  time.Duration // the whole conversation
	// TLS is used for STARTTLS; nil: the system's roots, ServerName from Addr. Tests set it.
	TLS *tls.Config
}

var _ Notifier = Email{}

func (e Email) Name() string { return "email" }

func (e Email) Send(ctx context.Context, a Alert) error {
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return permanent{err}
	}
	ctx, cancel := context.WithTimeout(ctx, e.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	// A canceled context (SIGTERM) ends the conversation at once rather than at the deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := e.converse(c, host, a); err != nil {
		return classifySMTP(err)
	}
	return c.Quit()
}

func (e Email) converse(c *smtp.Client, host string, a Alert) error {
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := e.TLS
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if e.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.Username, e.Password, host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(e.From); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	for _, to := range e.To {
		if err := c.Rcpt(to); err != nil {
			return fmt.Errorf("rcpt to %s: %w", to, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(e.message(a)); err != nil {
		return err
	}
	return w.Close()
}

// message is a plain-text e-mail; the alert's text has no line breaks to inject headers with.
func (e Email) message(a Alert) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", e.From)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(e.To, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", oneLine(a.Subject()))
	fmt.Fprintf(&b, "Date: %s\r\n", a.At.Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(oneLine(a.Text()))
	b.WriteString("\r\n")
	return []byte(b.String())
}

func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// classifySMTP: a 5xx reply (bad address, authentication refused) will not pass on a retry.
func classifySMTP(err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) && tp.Code >= 500 {
		return permanent{err}
	}
	return err
}
