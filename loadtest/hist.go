package loadtest

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records durations in log-linear buckets: every power of two of microseconds is cut
// into subBuckets equal slices, so a quantile read back is within 1/subBuckets (≈ 1.6 %) of the
// true value, at any scale from 1 µs to hours. Recording is lock-free (atomics), so thousands of
// watcher goroutines can share one histogram; memory is fixed (a few tens of KB) however many
// samples go in, which matters when a hot poll yields hundreds of millions of vote→tally pairs.
type Histogram struct {
	counts [powers * subBuckets]atomic.Int64
	n      atomic.Int64
	sum    atomic.Int64 // µs
	max    atomic.Int64 // µs
}

const (
	subBits    = 6
	subBuckets = 1 << subBits // slices per power of two
	powers     = 64 - subBits
)

// bucketOf maps a value in µs to its bucket index. Values below subBuckets get one bucket each
// (exact); above, the top subBits+1 significant bits pick the bucket.
func bucketOf(us int64) int {
	if us < subBuckets {
		return int(us)
	}
	p := bits.Len64(uint64(us)) - subBits - 1 // how far the value is shifted to keep subBits+1 bits
	return (p+1)*subBuckets + int(us>>uint(p)) - subBuckets
}

// bucketUpper is the largest value (µs) that falls in bucket i.
func bucketUpper(i int) int64 {
	if i < subBuckets {
		return int64(i)
	}
	p := i/subBuckets - 1
	m := int64(i%subBuckets + subBuckets)
	return (m+1)<<uint(p) - 1
}

// Record adds one sample; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	us := max(d.Microseconds(), 0)
	i := bucketOf(us)
	if i >= len(h.counts) {
		i = len(h.counts) - 1
	}
	h.counts[i].Add(1)
	h.n.Add(1)
	h.sum.Add(us)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// Count is the number of samples.
func (h *Histogram) Count() int64 { return h.n.Load() }

// Max is the largest sample, exact.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

// Mean is the average sample.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load()/n) * time.Microsecond
}

// Quantile returns the q-quantile (0 < q ≤ 1) as the upper edge of the bucket that holds the
// ceil(q·n)-th smallest sample, capped at the exact maximum. Zero when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(time.Duration(bucketUpper(i))*time.Microsecond, h.Max())
		}
	}
	return h.Max()
}
