package realtime_test

import (
	"testing"

	"circly/realtime"
	"circly/realtime/brokertest"
)

// TestMemoryBroker runs the suite every broker passes (redisbroker runs it on Redis).
func TestMemoryBroker(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) realtime.Broker { return realtime.NewMemoryBroker() })
}
