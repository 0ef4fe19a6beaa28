package hub

// WatcherCount is the number of local watchers of a channel, for tests that must wait until a
// subscribe has registered.
func WatcherCount(h *Hub, channel string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if ch := h.channels[channel]; ch != nil {
		return len(ch.watchers)
	}
	return 0
}

// FanOutIdle reports whether every message HandleMessage queued has been handed to its
// watchers, for tests that must know the fan-out is done.
func FanOutIdle(h *Hub) bool {
	h.fan.mu.Lock()
	defer h.fan.mu.Unlock()
	return !h.fan.running && len(h.fan.queue) == 0
}

// HoldRegistry takes the registry's write lock, as a fan-out stuck on it would find it, and
// returns the unlock.
func HoldRegistry(h *Hub) (release func()) {
	h.mu.Lock()
	return h.mu.Unlock
}

// FirstPing is when a new connection is first pinged.
var FirstPing = firstPing

// WritersOf is the hub's writer limit after defaults.
func WritersOf(h *Hub) int { return h.lim.Writers }
