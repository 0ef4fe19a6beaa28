// Package hub will hold the live WebSocket connections of one replica: subscriptions,
// per-connection writers with tally conflation, the slow-consumer policy, pings and the drain
// on shutdown. It imports no HTTP routing, SQL or Redis code (see docs/architecture.md).
// It arrives with the live-tallies work; nothing uses it yet.
package hub
