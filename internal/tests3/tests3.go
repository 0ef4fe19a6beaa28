// Package tests3 runs a private S3-compatible server for one test: s3rver (npm, MIT), a real
// process speaking the S3 HTTP API on 127.0.0.1, keeping its objects in a temporary directory.
// A missing s3rver fails the test (install: npm install -g s3rver@3.7.1; .ci/run does).
package tests3

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"circly/internal/testproc"
)

// s3rver accepts these keys (its defaults) and checks the signatures made with them.
const (
	AccessKey = "S3RVER"
	SecretKey = "S3RVER"
)

// Server is one running s3rver.
type Server struct {
	URL    string // http://127.0.0.1:port
	Bucket string
	Dir    string // where s3rver keeps the objects
}

// New starts s3rver with one empty bucket and stops it when the test ends.
func New(t testing.TB, bucket string) *Server {
	t.Helper()
	bin, err := exec.LookPath("s3rver")
	if err != nil {
		t.Fatalf("s3rver is not installed (npm install -g s3rver@3.7.1): %v", err)
	}
	s := &Server{Bucket: bucket, Dir: t.TempDir()}
	log := &testproc.Output{}
	var proc *testproc.Process
	err = testproc.OnFreePort(t, func(port int) error {
		s.URL = "http://127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(bin, "--directory", s.Dir, "--address", "127.0.0.1", "--port", strconv.Itoa(port),
			"--silent", "--configure-bucket", bucket)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = sysProcAttr()
		var err error
		proc, err = testproc.Start(cmd, "s3rver", 30*time.Second, 50*time.Millisecond, s.ready)
		return err
	})
	if err != nil {
		t.Fatalf("start s3rver: %v\n%s", err, log.String())
	}
	t.Cleanup(func() {
		_ = proc.P.Kill()
		<-proc.Exited
		if t.Failed() {
			t.Logf("s3rver output:\n%s", log.String())
		}
	})
	return s
}

// ready is any HTTP answer from the server.
func (s *Server) ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
