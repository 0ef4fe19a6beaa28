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
