// Package revoked remembers accounts deleted in the last few minutes. A deletion reaches every
// replica through the broker's control channel at once (the hub, the broker's listener, marks
// it here), while each replica's own "does this account still exist?" check may trust what it
// saw for up to a minute: until then, this list is what refuses the account's tokens, to REST
// authentication and to the hub alike.
package revoked

import (
	"sync"
	"time"
)

// TTL is how long a deleted account is remembered: far longer than any existence check trusts
// an earlier answer.
const TTL = 5 * time.Minute

// maxAccounts bounds the list; it is cleared when full, like the other caches.
const maxAccounts = 100_000

// Accounts is the list; the zero value is ready to use and safe for concurrent use.
type Accounts struct {
	mu sync.Mutex
	at map[string]time.Time
}

// Mark records that the account was deleted at now.
func (a *Accounts) Mark(id string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.at == nil || len(a.at) >= maxAccounts {
		a.at = map[string]time.Time{}
	}
	a.at[id] = now
}

// Has reports whether the account was deleted within TTL before now.
func (a *Accounts) Has(id string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.at[id]
	return ok && now.Sub(t) < TTL
}

// Prune forgets accounts deleted TTL or longer before now.
func (a *Accounts) Prune(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, t := range a.at {
		if now.Sub(t) >= TTL {
			delete(a.at, id)
		}
	}
}
