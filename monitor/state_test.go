package monitor

import (
	"reflect"
	"testing"
)

// alerts feeds the observations to a new tracker and returns the alerts in order.
func alerts(stable int, obs ...State) []Kind {
	tr := NewTracker(stable)
	var out []Kind
	for _, s := range obs {
		if k, ok := tr.Observe(s); ok {
			out = append(out, k)
		}
	}
	return out
}

func TestTracker(t *testing.T) {
	const H, G, D = Healthy, Degraded, Down
	cases := []struct {
		name   string
		stable int
		obs    []State
		want   []Kind
	}{
		{"first healthy is no news", 3, []State{H, H, H}, nil},
		{"first down alerts once", 3, []State{D}, []Kind{KindDown}},
		{"first degraded alerts once", 3, []State{G, G, G}, []Kind{KindDegraded}},
		{"no repeat while down holds", 3, []State{H, D, D, D, D, D}, []Kind{KindDown}},
		{"down then recovered after stable checks", 3, []State{H, D, H, H, H, H}, []Kind{KindDown, KindRecovered}},
		{"not recovered before stable checks", 3, []State{H, D, H, H}, []Kind{KindDown}},
		{"stable 1 recovers at once", 1, []State{H, D, H, D, H}, []Kind{KindDown, KindRecovered, KindDown, KindRecovered}},
		{"flapping: one down, one recovered once settled", 3,
			[]State{H, D, H, D, H, H, D, H, D, H, H, H, H},
			[]Kind{KindDown, KindRecovered}},
		{"worse counts at once: degraded then down", 3, []State{H, G, G, D}, []Kind{KindDegraded, KindDown}},
		{"better needs stable checks: down then degraded", 3, []State{D, G, G, G, G}, []Kind{KindDown, KindDegraded}},
		{"degraded recovers", 2, []State{G, H, H}, []Kind{KindDegraded, KindRecovered}},
		{"down to healthy through degraded: counting restarts", 3, []State{D, G, G, H, H, H}, []Kind{KindDown, KindRecovered}},
		{"flapping between down and degraded stays down", 2, []State{D, G, D, G, D, G, D}, []Kind{KindDown}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := alerts(c.stable, c.obs...); !reflect.DeepEqual(got, c.want) {
				t.Errorf("observations %v: alerts %v, want %v", c.obs, got, c.want)
			}
		})
	}
}

func TestTrackerState(t *testing.T) {
	tr := NewTracker(2)
	if tr.State() != Unknown {
		t.Fatalf("new tracker in %v", tr.State())
	}
	tr.Observe(Down)
	tr.Observe(Healthy) // one healthy check is not enough
	if tr.State() != Down {
		t.Fatalf("state %v after one healthy check, want down", tr.State())
	}
	tr.Observe(Healthy)
	if tr.State() != Healthy {
		t.Fatalf("state %v after two healthy checks, want healthy", tr.State())
	}
}
