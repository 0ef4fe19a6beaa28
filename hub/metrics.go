package hub

// Metrics receives the hub's counters. It is an interface so that the hub needs no metrics
// library (metrics.WS implements it over the Prometheus registry); nil counts nothing.
type Metrics interface {
	ConnOpened()
	ConnClosed()
	FrameSent()
	// Dropped counts a frame not sent or a connection cut: "conflated", "stale",
	// "slow_consumer", "write_timeout", "no_pong", "too_many_errors", "write_error".
	Dropped(reason string)
	BrokerReconnect()
}

type nopMetrics struct{}

func (nopMetrics) ConnOpened()      {}
func (nopMetrics) ConnClosed()      {}
func (nopMetrics) FrameSent()       {}
func (nopMetrics) Dropped(string)   {}
func (nopMetrics) BrokerReconnect() {}
