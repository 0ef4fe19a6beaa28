package sqlstore_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"circly"
)

// TestTemplateUsesCountedExactly: polls created concurrently on one template, while the fold
// runs again and again, count exactly once each in usage_count, before and after the last fold.
func TestTemplateUsesCountedExactly(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		before, err := e.s.GetTemplate(e.ctx, templateKind)
		if err != nil {
			t.Fatal(err)
		}
		const creators, each = 8, 10
		fxs := make([]*circleFx, creators)
		for i := range fxs {
			fxs[i] = e.circle(3, 10)
		}
		stop := make(chan struct{})
		var folded atomic.Int64
		var folds sync.WaitGroup
		folds.Add(1)
		go func() {
			defer folds.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				n, err := e.s.FoldTemplateUses(e.ctx)
				if err != nil {
					t.Error("fold:", err)
					return
				}
				folded.Add(n)
				time.Sleep(time.Millisecond)
			}
		}()
		var wg sync.WaitGroup
		for _, fx := range fxs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					if _, err := e.s.CreatePoll(e.ctx, fx.Users[0].ID, circly.CreatePollRequest{
						CircleID: fx.ID, TemplateID: templateKind, Deadline: e.clock.Now().Add(time.Hour)}); err != nil {
						t.Error("create poll:", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		folds.Wait()
		want := before.UsageCount + creators*each
		if got, _ := e.s.GetTemplate(e.ctx, templateKind); got.UsageCount != want {
			t.Fatalf("usage_count %d after %d polls (folded %d so far), want %d", got.UsageCount, creators*each, folded.Load(), want)
		}
		n, err := e.s.FoldTemplateUses(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if folded.Load()+n != creators*each {
			t.Fatalf("folds moved %d uses in all, want %d", folded.Load()+n, creators*each)
		}
		list, _, err := e.s.ListTemplates(e.ctx, "", circly.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if list[0].ID != templateKind || list[0].UsageCount != want {
			t.Fatalf("most used template %s with %d, want %s with %d", list[0].ID, list[0].UsageCount, templateKind, want)
		}
		if n, _ := e.s.FoldTemplateUses(e.ctx); n != 0 {
			t.Fatalf("a fold with nothing recorded moved %d", n)
		}
	}, noPollLimits())
}
