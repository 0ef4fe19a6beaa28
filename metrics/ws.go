package metrics

import "github.com/prometheus/client_golang/prometheus"

// WS feeds the hub's counters (it implements hub.Metrics) into ws_connections,
// ws_messages_sent_total, ws_dropped_total and realtime_broker_reconnects_total. The label
// values of the hot paths are resolved once, so fan-out does not look them up per frame.
type WS struct {
	conflated, stale prometheus.Counter
}

// NewWS returns the hub's metrics.
func NewWS() *WS {
	return &WS{conflated: WSDropped.WithLabelValues("conflated"), stale: WSDropped.WithLabelValues("stale")}
}

func (w *WS) ConnOpened()      { WSConnections.Inc() }
func (w *WS) ConnClosed()      { WSConnections.Dec() }
func (w *WS) FrameSent()       { WSMessagesSent.Inc() }
func (w *WS) BrokerReconnect() { BrokerReconnects.Inc() }

// Dropped counts by reason.
func (w *WS) Dropped(reason string) {
	switch reason {
	case "conflated":
		w.conflated.Inc()
	case "stale":
		w.stale.Inc()
	default:
		WSDropped.WithLabelValues(reason).Inc()
	}
}
