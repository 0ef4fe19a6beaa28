package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

var _ Limiter = (*Memory)(nil)

// memoryShards splits the key space so that concurrent requests rarely share a lock and a
// sweep only stalls the keys of one shard.
const memoryShards = 64

// sweepEvery is how often a shard drops the keys whose budget is whole again.
const sweepEvery = time.Minute

// maxKeysPerShard caps memory (about 1M keys in all) even under a flood of new keys within one
// period: past it a shard forgets an arbitrary key, which at worst gives that key its budget
// back early.
const maxKeysPerShard = 1 << 14

// Memory is an in-process GCRA limiter. A key whose budget is whole again holds no state
// and is dropped by the next sweep of its shard, so memory is bounded by the keys active
// within the longest period.
type Memory struct {
	seed     maphash.Seed
	now      func() time.Time
	shardCap int
	shards   [memoryShards]memoryShard
}

type memoryShard struct {
	mu        sync.Mutex
	tat       map[string]time.Time // theoretical arrival time of the next request, per key
	lastSweep time.Time
}

// NewMemory returns an empty in-memory limiter.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed(), now: time.Now, shardCap: maxKeysPerShard}
	for i := range m.shards {
		m.shards[i].tat = map[string]time.Time{}
	}
	return m
}

// SetClock replaces the limiter's clock (tests).
func (m *Memory) SetClock(now func() time.Time) { m.now = now }

// SetShardCap changes how many keys one of the 64 shards may hold (tests).
func (m *Memory) SetShardCap(n int) { m.shardCap = n }

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, l Limit) (Result, error) {
	if l.Off() {
		return Result{Allowed: true, Limit: l.Rate, Remaining: l.Rate}, nil
	}
	sh := &m.shards[maphash.String(m.seed, key)%memoryShards]
	now := m.now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now.Sub(sh.lastSweep) >= sweepEvery {
		sh.sweep(now)
	}
	tat, ok := sh.tat[key]
	if !ok || tat.Before(now) {
		tat = now
	}
	res, newTAT := gcra(now, tat, l)
	if res.Allowed {
		if !ok && len(sh.tat) >= m.shardCap {
			sh.sweep(now)
			for k := range sh.tat {
				if len(sh.tat) < m.shardCap {
					break
				}
				delete(sh.tat, k)
			}
		}
		sh.tat[key] = newTAT
	}
	return res, nil
}

// Len is the number of keys held (tests check that idle keys go away).
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		n += len(sh.tat)
		sh.mu.Unlock()
	}
	return n
}

// Sweep drops every key whose budget is whole again, now rather than at the next sweep.
func (m *Memory) Sweep() {
	now := m.now()
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		sh.sweep(now)
		sh.mu.Unlock()
	}
}

func (sh *memoryShard) sweep(now time.Time) {
	for k, t := range sh.tat {
		if !t.After(now) {
			delete(sh.tat, k)
		}
	}
	sh.lastSweep = now
}

// gcra decides one request at now for a key whose next arrival is due at tat (>= now). It is
// the same arithmetic as the Redis script, so both limiters answer alike.
func gcra(now, tat time.Time, l Limit) (Result, time.Time) {
	interval := l.interval()
	burst := interval * time.Duration(l.Rate)
	newTAT := tat.Add(interval)
	allowAt := newTAT.Add(-burst)
	diff := now.Sub(allowAt)
	if diff < 0 {
		return Result{Allowed: false, Limit: l.Rate, Remaining: 0, RetryAfter: -diff, ResetAfter: tat.Sub(now)}, tat
	}
	return Result{Allowed: true, Limit: l.Rate, Remaining: int(diff / interval), ResetAfter: newTAT.Sub(now)}, newTAT
}
