package revoked_test

import (
	"sync"
	"testing"
	"time"

	"circly/revoked"
)

func TestAccounts(t *testing.T) {
	var a revoked.Accounts
	now := time.Now()
	if a.Has("u", now) {
		t.Fatal("the zero list has an account")
	}
	a.Mark("u", now)
	if !a.Has("u", now.Add(revoked.TTL-time.Second)) || a.Has("v", now) {
		t.Fatal("a marked account is not remembered, or another one is")
	}
	if a.Has("u", now.Add(revoked.TTL)) {
		t.Fatal("remembered past the TTL")
	}
	a.Prune(now.Add(revoked.TTL))
	a.Mark("w", now.Add(revoked.TTL))
	if a.Has("u", now) {
		t.Fatal("pruned account still there")
	}
	var wg sync.WaitGroup
	for i := range 50 { // concurrent marks and checks (run with -race)
		wg.Go(func() {
			id := string(rune('a' + i%26))
			a.Mark(id, now)
			_ = a.Has(id, now)
			a.Prune(now)
		})
	}
	wg.Wait()
}
