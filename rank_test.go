package circly

import (
	"math"
	"testing"
)

// rankCounts builds a poll with the given released counts and ranks it.
func rankCounts(countsIn ...int) Results {
	p := Poll{ID: "p", QuestionText: "q"}
	for i, c := range countsIn {
		p.Options = append(p.Options, Option{ID: string(rune('a' + i)), MemberNickname: string(rune('A' + i)), VoteCount: c, DisplayOrder: i + 1})
		p.TotalVotes += c
	}
	return Rank(p)
}

func TestRankTiesShareRank(t *testing.T) {
	r := rankCounts(2, 5, 5, 1)
	var ids []string
	var ranks []int
	for _, x := range r.Results {
		ids = append(ids, x.OptionID)
		ranks = append(ranks, x.Rank)
	}
	if want := []int{1, 1, 3, 4}; !equalInts(ranks, want) {
		t.Fatalf("ranks %v, want %v", ranks, want)
	}
	if ids[0] != "b" || ids[1] != "c" || ids[2] != "a" || ids[3] != "d" {
		t.Fatalf("order %v, want most votes first, ties in display order", ids)
	}
	if r.Winner != nil {
		t.Fatalf("winner %+v on a tie for first", r.Winner)
	}
	if ranks := rankOf(rankCounts(3, 3, 1)); !equalInts(ranks, []int{1, 1, 3}) {
		t.Fatalf("ranks %v, want [1 1 3]", ranks)
	}
	if ranks := rankOf(rankCounts(4, 2, 2)); !equalInts(ranks, []int{1, 2, 2}) {
		t.Fatalf("ranks %v, want [1 2 2]", ranks)
	}
}

func TestRankWinner(t *testing.T) {
	if w := rankCounts(0, 0, 0).Winner; w != nil {
		t.Fatalf("winner %+v with no votes", w)
	}
	if w := rankCounts().Winner; w != nil {
		t.Fatalf("winner %+v with no options", w)
	}
	if w := rankCounts(1, 1).Winner; w != nil {
		t.Fatalf("winner %+v on a tie", w)
	}
	w := rankCounts(1, 3, 2).Winner
	if w == nil || w.OptionID != "b" || w.Rank != 1 || w.VoteCount != 3 || w.MemberNickname != "B" {
		t.Fatalf("winner %+v, want option b", w)
	}
	if w := rankCounts(1).Winner; w == nil || w.OptionID != "a" {
		t.Fatalf("sole option with a vote: winner %+v", w)
	}
	r := rankCounts(0, 0, 0)
	for _, x := range r.Results {
		if x.Percentage != 0 || x.Rank != 1 {
			t.Fatalf("no votes: %+v", x)
		}
	}
}

func TestRankPercentagesSumTo100(t *testing.T) {
	cases := [][]int{
		{1, 1, 1}, {2, 1}, {1, 3, 3}, {1, 1, 1, 1, 1, 1, 1}, {1, 2, 3, 4, 5, 6}, {7, 0, 0}, {1, 0, 2},
		{3, 3, 3, 1}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {33, 33, 34}, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
	}
	for _, c := range cases {
		r := rankCounts(c...)
		total, tenths := 0.0, 0
		for _, x := range r.Results {
			total += x.Percentage
			tn := x.Percentage * 10
			if math.Abs(tn-math.Round(tn)) > 1e-9 {
				t.Fatalf("%v: percentage %v has more than one decimal", c, x.Percentage)
			}
			tenths += int(math.Round(tn))
			sum := 0
			for _, v := range c {
				sum += v
			}
			if exact := float64(x.VoteCount) * 100 / float64(sum); math.Abs(exact-x.Percentage) >= 0.1+1e-9 {
				t.Fatalf("%v: %d votes shown as %v%%, exact %v%%", c, x.VoteCount, x.Percentage, exact)
			}
			if x.VoteCount == 0 && x.Percentage != 0 {
				t.Fatalf("%v: an option without votes got %v%%", c, x.Percentage)
			}
		}
		if tenths != 1000 || math.Abs(total-100) > 1e-9 {
			t.Fatalf("%v: percentages sum to %v (%d tenths), want exactly 100.0", c, total, tenths)
		}
	}
	r := rankCounts(1, 1, 1)
	if p := []float64{r.Results[0].Percentage, r.Results[1].Percentage, r.Results[2].Percentage}; p[0] != 33.4 || p[1] != 33.3 || p[2] != 33.3 {
		t.Fatalf("1/1/1 = %v", p)
	}
	r = rankCounts(2, 1)
	if r.Results[0].Percentage != 66.7 || r.Results[1].Percentage != 33.3 {
		t.Fatalf("2/1 = %v/%v", r.Results[0].Percentage, r.Results[1].Percentage)
	}
}

func rankOf(r Results) []int {
	var out []int
	for _, x := range r.Results {
		out = append(out, x.Rank)
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
