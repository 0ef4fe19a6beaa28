package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"
)

// The fixtures scenario sets up a classroom population and writes it to a JSON file instead of
// running it, for load tools that cannot share state between their virtual users (the k6
// scripts under loadtest/k6 read it once into a SharedArray).

type fixtureMember struct {
	Token    string `json:"token"`
	MemberID string `json:"member_id"`
}

type fixtureCircle struct {
	ID      string          `json:"id"`
	Members []fixtureMember `json:"members"`
	Polls   []Poll          `json:"polls"`
}

func runFixtures(ctx context.Context, c Config, rest *REST, prefix string, rep *reporter) error {
	if c.Fixtures == "" {
		return fmt.Errorf("the fixtures scenario needs -fixtures <file>")
	}
	polls := c.PollsPerCircle
	if polls <= 0 {
		polls = int(math.Ceil(c.Rate * c.Duration.Seconds() / float64(c.Circles*c.Members)))
	}
	t0 := time.Now()
	pop, _, err := setupClassroom(ctx, c, rest, polls, prefix)
	if err != nil {
		return err
	}
	out := struct {
		Circles []fixtureCircle `json:"circles"`
	}{}
	for ci, circle := range pop.Circles {
		fc := fixtureCircle{ID: circle.ID, Polls: pop.Polls[ci]}
		for _, m := range pop.Members[ci] {
			fc.Members = append(fc.Members, fixtureMember{Token: m.Token, MemberID: m.MemberID})
		}
		out.Circles = append(out.Circles, fc)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.Fixtures, b, 0o600); err != nil { // holds access tokens
		return err
	}
	rep.kv("fixtures", fmt.Sprintf("%d circles × %d members, %d polls each, in %.1f s → %s", c.Circles, c.Members, polls, time.Since(t0).Seconds(), c.Fixtures))
	return nil
}
