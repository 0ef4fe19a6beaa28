package hub

import (
	"sync"
	"time"
)

// goneUsers remembers accounts deleted in the last goneTTL. The deletion reaches every replica
// through the broker at once, while each replica's own "does this account still exist?" check
// may trust what it saw for up to a minute: until then, this list is what refuses the account's
// tokens there.
type goneUsers struct {
	mu sync.Mutex
	at map[string]time.Time
}

const (
	goneTTL = 5 * time.Minute
	goneMax = 100_000 // bounded; cleared when full, like the other caches
)

func (g *goneUsers) add(id string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.at == nil || len(g.at) >= goneMax {
		g.at = map[string]time.Time{}
	}
	g.at[id] = now
}

func (g *goneUsers) has(id string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	t, ok := g.at[id]
	return ok && now.Sub(t) < goneTTL
}

// prune forgets entries older than goneTTL.
func (g *goneUsers) prune(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, t := range g.at {
		if now.Sub(t) >= goneTTL {
			delete(g.at, id)
		}
	}
}
