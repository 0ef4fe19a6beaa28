package hub_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"circly/frames"
	"circly/hub"
	"circly/realtime"
)

// rawNext returns the next frame written to the client, as written.
func (f *fakeTransport) rawNext(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-f.out:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no frame within 5 s")
		return nil
	}
}

func subscribeRaw(t *testing.T, f *fakeTransport, id int, ch string) []byte {
	t.Helper()
	f.send(map[string]any{"type": "subscribe", "id": id, "channel": ch})
	return f.rawNext(t)
}

// TestCompactAndFullWatchers: on one poll, a connection that asked for compact tallies gets
// the option ids once in its snapshot and then only counts, up to and including the final
// results; a connection that did not ask gets exactly the frames it always got.
func TestCompactAndFullWatchers(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	p := uuidN("p", 1)
	ch := realtime.PollChannel(p)
	h.world.addPoll(p, "c")
	h.world.join("c", "full")
	h.world.join("c", "compact")
	h.world.setVersion(ch, 2)
	full := h.open("full")
	compact := h.openCompact("compact")

	if got, want := string(subscribeRaw(t, full, 1, ch)), `{"type":"subscribed","id":1,"channel":"`+ch+`","data":{"version":2}}`; got != want {
		t.Fatalf("full snapshot\n got %s\nwant %s", got, want)
	}
	want := `{"type":"subscribed","id":1,"channel":"` + ch +
		`","data":{"option_ids":["o1","o2"],"version":2,"total_votes":2,"counts":[2,0],"is_closed":false}}`
	if got := string(subscribeRaw(t, compact, 1, ch)); got != want {
		t.Fatalf("compact snapshot\n got %s\nwant %s", got, want)
	}

	for v := 3; v <= 6; v++ {
		h.publishTally(ch, v)
	}
	final := realtime.Message{Channel: ch, Kind: realtime.KindFinal, Version: 7, Type: frames.TypePollClosed,
		Data: json.RawMessage(`{"poll_id":"x","version":7,"is_closed":true,"results":[]}`), Compact: fakeCompact(7, true)}
	if err := h.broker.Publish(t.Context(), final); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		f    *fakeTransport
		data func(v int) json.RawMessage
	}{
		{"full", full, func(v int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"version":%d}`, v)) }},
		{"compact", compact, func(v int) json.RawMessage { return fakeCompact(v, false) }},
	} {
		last := 2
		for {
			b := c.f.rawNext(t)
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%s: %q: %v", c.name, b, err)
			}
			if m["type"] == frames.TypePollClosed {
				data := final.Data
				if c.name == "compact" {
					data = final.Compact
				}
				if got, want := string(b), string(frames.Data(frames.TypePollClosed, ch, "", data)); got != want {
					t.Fatalf("%s final\n got %s\nwant %s", c.name, got, want)
				}
				break
			}
			v := frameVersion(t, m)
			if m["type"] != frames.TypeTally || v <= last {
				t.Fatalf("%s: frame %s after version %d", c.name, b, last)
			}
			if got, want := string(b), string(frames.Data(frames.TypeTally, ch, "", c.data(v))); got != want {
				t.Fatalf("%s tally\n got %s\nwant %s", c.name, got, want)
			}
			last = v
		}
	}
}

// TestCompactFramesEncodedOncePerForm: a message is encoded once per form, and every watcher
// of a form is written the very same bytes; a message without a compact form (published by
// a replica from before it) reaches compact watchers in the full form.
func TestCompactFramesEncodedOncePerForm(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	p := uuidN("p", 2)
	ch := realtime.PollChannel(p)
	h.world.addPoll(p, "c")
	var fulls, compacts []*fakeTransport
	for i := 0; i < 3; i++ {
		for _, u := range []string{fmt.Sprintf("f%d", i), fmt.Sprintf("c%d", i)} {
			h.world.join("c", u)
		}
		fulls = append(fulls, h.open(fmt.Sprintf("f%d", i), ch))
		compacts = append(compacts, h.openCompact(fmt.Sprintf("c%d", i), ch))
	}
	for _, f := range append(append([]*fakeTransport{}, fulls...), compacts...) {
		f.expect(t, "subscribed")
	}
	h.publishTally(ch, 1)
	first := func(fs []*fakeTransport) []byte {
		var b0 []byte
		for i, f := range fs {
			b := f.rawNext(t)
			if i == 0 {
				b0 = b
			} else if &b[0] != &b0[0] || len(b) != len(b0) {
				t.Fatalf("watchers of one form were written different copies: %s / %s", b0, b)
			}
		}
		return b0
	}
	fb, cb := first(fulls), first(compacts)
	if string(fb) != string(frames.Data(frames.TypeTally, ch, "", json.RawMessage(`{"version":1}`))) ||
		string(cb) != string(frames.Data(frames.TypeTally, ch, "", fakeCompact(1, false))) {
		t.Fatalf("frames full %s compact %s", fb, cb)
	}

	old := realtime.Message{Channel: ch, Kind: realtime.KindTally, Version: 2, Type: frames.TypeTally, Data: json.RawMessage(`{"version":2}`)}
	if err := h.broker.Publish(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	if got := string(compacts[0].rawNext(t)); got != string(frames.Data(frames.TypeTally, ch, "", old.Data)) {
		t.Fatalf("a message without a compact form: %s", got)
	}
}

// TestCompactSnapshotFromCache: a compact subscriber served from the snapshot cache after a
// tally message gets that tally's counts with the poll's option ids (kept from the read), and
// no read.
func TestCompactSnapshotFromCache(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	p := uuidN("p", 3)
	ch := realtime.PollChannel(p)
	h.world.addPoll(p, "c")
	h.world.join("c", "a")
	h.world.join("c", "b")
	a := h.openCompact("a", ch)
	a.expect(t, "subscribed")
	reads := h.world.snapCalls.Load()
	h.publishTally(ch, 7)
	if v := frameVersion(t, a.expect(t, "tally")); v != 7 {
		t.Fatalf("tally version %d", v)
	}
	b := h.openCompact("b")
	want := `{"type":"subscribed","id":1,"channel":"` + ch +
		`","data":{"option_ids":["o1","o2"],"version":7,"total_votes":7,"counts":[7,0],"is_closed":false}}`
	if got := string(subscribeRaw(t, b, 1, ch)); got != want {
		t.Fatalf("cached compact snapshot\n got %s\nwant %s", got, want)
	}
	if n := h.world.snapCalls.Load(); n != reads {
		t.Fatalf("%d snapshot reads for a cached poll", n-reads)
	}
}

// TestMixedFormsConverge: 80 connections, half of them compact, watch 5 polls while 8
// goroutines publish tallies out of order; each connection sees only its own form, versions
// that never go down, and ends on the highest version of every poll.
func TestMixedFormsConverge(t *testing.T) {
	h := newHarness(t, hub.Limits{})
	const polls, clients, top = 5, 80, 200
	var chans []string
	for i := 0; i < polls; i++ {
		id := uuidN("mix", i)
		h.world.addPoll(id, "c1")
		chans = append(chans, realtime.PollChannel(id))
	}
	fakes := make([]*fakeTransport, clients)
	for i := range fakes {
		u := fmt.Sprintf("u%d", i)
		h.world.join("c1", u)
		if i%2 == 0 {
			fakes[i] = h.openCompact(u)
		} else {
			fakes[i] = h.open(u)
		}
	}
	subscribeWhilePublishing(h, fakes, chans, top)
	var check sync.WaitGroup
	for i, f := range fakes {
		check.Add(1)
		go func() {
			defer check.Done()
			compact := i%2 == 0
			last := map[string]int{}
			for len(last) < polls || !allAt(last, top) {
				m, ok := f.poll(5 * time.Second)
				if !ok {
					t.Errorf("client %d stuck at %v", i, last)
					return
				}
				ch, _ := m["channel"].(string)
				d, _ := m["data"].(map[string]any)
				counts, hasCounts := d["counts"].([]any)
				_, hasIDs := d["option_ids"]
				if hasCounts != compact || (m["type"] == "subscribed" && hasIDs != compact) || (m["type"] == "tally" && hasIDs) {
					t.Errorf("client %d (compact %v): frame %v", i, compact, m)
					return
				}
				v := frameVersion(t, m)
				if compact && counts[0].(float64) != float64(v) {
					t.Errorf("client %d: counts %v at version %d", i, counts, v)
					return
				}
				if prev, seen := last[ch]; seen && v < prev {
					t.Errorf("client %d: version %d after %d on %s", i, v, prev, ch)
					return
				}
				last[ch] = v
			}
		}()
	}
	check.Wait()
}

// BenchmarkFanOut is the cost of one tally of a 50-member poll fanned out to 1,000 watchers,
// per form: one encode per form per message, then each watcher's write (to a sink). It
// reports the bytes each watcher is written per tally.
func BenchmarkFanOut(b *testing.B) {
	const watchers = 1000
	full := make([]byte, 0, 3600)
	full = append(full, `{"poll_id":"7f0c1d2e-3b4a-4c5d-8e9f-a0b1c2d3e4f5","version":50,"total_votes":50,"options":[`...)
	counts := make([]int, 50)
	for i := range counts {
		if i > 0 {
			full = append(full, ',')
		}
		counts[i] = i % 3
		full = fmt.Appendf(full, `{"option_id":"%08x-5e6f-4a7b-8c9d-%012x","vote_count":%d}`, i+1, 0xabcdef000000+i, counts[i])
	}
	full = append(full, `],"is_closed":false}`...)
	for _, form := range []string{frames.FormFull, frames.FormCompact} {
		b.Run(form, func(b *testing.B) {
			p := uuidN("bench", 1)
			ch := realtime.PollChannel(p)
			w := newWorld()
			w.addPoll(p, "c")
			h := hub.New(hub.Config{Broker: realtime.NewMemoryBroker(), Auth: w, Snapshots: w})
			if err := h.Start(b.Context()); err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			sinks := make([]*sinkTransport, watchers)
			var done sync.WaitGroup
			for i := range sinks {
				u := fmt.Sprintf("u%d", i)
				w.join("c", u)
				sinks[i] = &sinkTransport{closed: make(chan struct{})}
				done.Add(1)
				go func() {
					defer done.Done()
					h.Serve(b.Context(), sinks[i], hub.Session{UserID: u, Channels: []string{ch}, CompactTally: form == frames.FormCompact})
				}()
			}
			wait := func(n int64) {
				for _, s := range sinks {
					for s.writes.Load() < n {
						time.Sleep(50 * time.Microsecond)
					}
				}
			}
			wait(2) // ready + subscribed
			var before int64
			for _, s := range sinks {
				before += s.bytes.Load()
			}
			written := int64(2)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				v := 100 + i
				counts[0] = v
				h.HandleMessage(realtime.Message{Channel: ch, Kind: realtime.KindTally, Version: v, Type: frames.TypeTally,
					Data: full, Compact: frames.CompactTally{Version: v, TotalVotes: 50, Counts: counts}.Encode()})
				written++
				wait(written)
			}
			b.StopTimer()
			var after int64
			for _, s := range sinks {
				after += s.bytes.Load()
			}
			b.ReportMetric(float64(after-before)/float64(b.N)/watchers, "bytes/frame")
			for _, s := range sinks {
				_ = s.Close(0, "")
			}
			done.Wait()
		})
	}
}
