package loadtest

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketsCoverEveryValueInOrder(t *testing.T) {
	prev := -1
	for _, us := range []int64{0, 1, 63, 64, 65, 127, 128, 129, 1000, 1 << 20, 1<<40 + 12345} {
		i := bucketOf(us)
		if i < prev {
			t.Fatalf("bucket of %d is %d, below the previous %d", us, i, prev)
		}
		prev = i
		if up := bucketUpper(i); up < us {
			t.Fatalf("value %d in bucket %d whose upper edge is %d", us, i, up)
		}
		if i > 0 && bucketUpper(i-1) >= us {
			t.Fatalf("value %d also fits bucket %d (upper %d)", us, i-1, bucketUpper(i-1))
		}
	}
	// Every value of a wide range lands in a bucket whose edges enclose it.
	for us := int64(0); us < 200_000; us += 7 {
		i := bucketOf(us)
		if bucketUpper(i) < us || (i > 0 && bucketUpper(i-1) >= us) {
			t.Fatalf("value %d: bucket %d [%d, %d]", us, i, bucketUpper(i-1)+1, bucketUpper(i))
		}
	}
}

func TestQuantilesMatchSortedSamplesWithinResolution(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	samples := make([]time.Duration, 100_000)
	for i := range samples {
		// Log-normal-ish spread from tens of µs to seconds, like real latencies.
		samples[i] = time.Duration(r.ExpFloat64()*r.ExpFloat64()*5e6) + 20*time.Microsecond
		h.Record(samples[i])
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		want := samples[int(q*float64(len(samples)))-1].Truncate(time.Microsecond)
		got := h.Quantile(q)
		if got < want || float64(got-want) > float64(want)/subBuckets*1.01+float64(time.Microsecond) {
			t.Errorf("q%.3f = %v, exact %v (allowed error %.2f%%)", q, got, want, 100.0/subBuckets)
		}
	}
	if h.Max() != samples[len(samples)-1].Truncate(time.Microsecond) {
		t.Errorf("max %v, want %v", h.Max(), samples[len(samples)-1])
	}
	if h.Count() != int64(len(samples)) {
		t.Errorf("count %d", h.Count())
	}
}

func TestQuantileSmallCounts(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram is not zero")
	}
	for _, ms := range []int{1, 2, 3, 4, 100} {
		h.Record(time.Duration(ms) * time.Millisecond)
	}
	if got := h.Quantile(0.5); got < 3*time.Millisecond || got > 3*time.Millisecond*65/64 {
		t.Errorf("p50 = %v, want ≈ 3ms", got)
	}
	if got := h.Quantile(0.99); got != 100*time.Millisecond {
		t.Errorf("p99 of 5 samples = %v, want the max 100ms", got)
	}
	h.Record(-time.Second)
	if h.Quantile(0.01) != 0 {
		t.Errorf("negative sample not clamped to 0")
	}
}

func TestHistogramConcurrentRecord(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				h.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	if h.Count() != 64_000 || h.Max() != 63_999*time.Microsecond {
		t.Fatalf("count %d max %v", h.Count(), h.Max())
	}
}
