package hub_test

import (
	"context"
	"sync/atomic"
	"testing"

	"circly/hub"
)

// reconnectCounter counts the hub's BrokerReconnect calls and nothing else.
type reconnectCounter struct {
	n atomic.Int32
}

func (*reconnectCounter) ConnOpened()        {}
func (*reconnectCounter) ConnClosed()        {}
func (*reconnectCounter) FrameSent()         {}
func (*reconnectCounter) Dropped(string)     {}
func (r *reconnectCounter) BrokerReconnect() { r.n.Add(1) }

// TestBrokerReconnectCountedOnce: one recovery of the broker link is one count, made by the hub
// (the broker itself counts nothing, so realtime_broker_reconnects_total is not doubled).
func TestBrokerReconnectCountedOnce(t *testing.T) {
	w := newWorld()
	m := &reconnectCounter{}
	h := hub.New(hub.Config{Broker: newCountingBroker(), Auth: w, Snapshots: w, Metrics: m})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.HandleReconnect()
	if got := m.n.Load(); got != 1 {
		t.Fatalf("one recovery counted %d times", got)
	}
}
