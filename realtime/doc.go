// Package realtime will hold the Broker contract (publish, subscribe, link-lost callbacks) with
// an in-memory implementation for the embedded mode and a Redis pub/sub one for replicas.
// It arrives with the live-tallies work; nothing uses it yet.
package realtime
