package e2e_test

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestDrainEndsWithTheLastWebSocket: SIGTERM drains live connections over SHUTDOWN_DRAIN (20 s
// here), but the replica stops as soon as none is left: at once with none open, and right
// after the last client went when some were.
func TestDrainEndsWithTheLastWebSocket(t *testing.T) {
	vars := func() map[string]string {
		return map[string]string{"DATA_DIR": t.TempDir(), "LOG_LEVEL": "info", "LOG_FORMAT": "json", "SHUTDOWN_DRAIN": "20s"}
	}
	const window = 20 * time.Second

	idle := startServer(t, "idle", vars())
	sent := time.Now()
	idle.signal(syscall.SIGTERM)
	if code, exited := idle.wait(window); !exited || code != 0 {
		t.Fatalf("idle replica: exited %v code %d", exited, code)
	}
	if took := time.Since(sent); took > window/2 {
		t.Errorf("a replica without WebSockets took %s to stop; SHUTDOWN_DRAIN is %s", took, window)
	}

	busy := startServer(t, "busy", vars())
	u, err := login(busy.URL, "drain-"+t.Name())
	if err != nil {
		t.Fatal(err)
	}
	a, b := dialLive(t, busy.URL, u.Token), dialLive(t, busy.URL, u.Token)
	sent = time.Now()
	busy.signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	if busy.exited() {
		t.Fatal("the replica stopped with two WebSockets open")
	}
	// Both clients leave (as the app does on its `reconnect` frame, or a user closing it).
	_ = a.c.Close(websocket.StatusNormalClosure, "bye")
	_ = b.c.Close(websocket.StatusNormalClosure, "bye")
	if code, exited := busy.wait(window); !exited || code != 0 {
		t.Fatalf("busy replica: exited %v code %d", exited, code)
	}
	if took := time.Since(sent); took > window/2 {
		t.Errorf("the replica took %s to stop after its last WebSocket closed; SHUTDOWN_DRAIN is %s", took, window)
	}
	if !strings.Contains(busy.stderr.String(), `"msg":"drained"`) {
		t.Errorf("no drained line:\n%s", busy.stderr.String())
	}
}
