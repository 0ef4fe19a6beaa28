package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// Member is a user in a circle. The creator has no membership id in the setup answers, and needs
// none: a poll's options never include its creator.
type Member struct {
	User
	MemberID string
}

// Population is the circles, members and polls a scenario runs on, all made through REST.
type Population struct {
	Circles  []Circle
	Members  [][]Member // per circle; [0] is the creator
	Polls    [][]Poll   // per circle
	PollIDs  []string   // every poll, circle by circle, so one circle's polls are consecutive
	PollBase []int      // index in PollIDs of each circle's first poll
}

// SetupOptions sizes a population.
type SetupOptions struct {
	Circles, Members, PollsPerCircle int
	Concurrency                      int    // circles set up at once
	Prefix                           string // makes device ids unique to this run
	// Reuse takes the users and circles of an earlier run (same shape) and only opens new
	// polls in them: a classroom's 40,000 logins and joins take minutes on a busy machine.
	Reuse *Population
}

// maxMembersFor is the smallest circle size the contract offers that holds n members.
func maxMembersFor(n int) (int, error) {
	for _, m := range []int{10, 25, 50} {
		if n <= m {
			return m, nil
		}
	}
	return 0, fmt.Errorf("a circle holds at most 50 members, not %d", n)
}

// Setup logs in every member, creates and fills every circle and opens its polls. Each circle
// is set up by one goroutine in order (create, joins, polls); circles run in parallel.
func Setup(ctx context.Context, r *REST, o SetupOptions) (*Population, error) {
	if o.Members < 3 {
		return nil, fmt.Errorf("polls need circles of at least 3 members")
	}
	size, err := maxMembersFor(o.Members)
	if err != nil {
		return nil, err
	}
	if o.Reuse != nil && (len(o.Reuse.Circles) != o.Circles || len(o.Reuse.Members) != o.Circles || len(o.Reuse.Members[0]) != o.Members) {
		return nil, fmt.Errorf("the saved population is not %d circles × %d members", o.Circles, o.Members)
	}
	p := &Population{Circles: make([]Circle, o.Circles), Members: make([][]Member, o.Circles), Polls: make([][]Poll, o.Circles)}
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		tpl      string
	)
	creator, err := r.Login(ctx, o.Prefix+"-probe")
	if err != nil {
		return nil, fmt.Errorf("device login: %w", err)
	}
	if tpl, err = r.FirstTemplate(ctx, creator.Token); err != nil {
		return nil, err
	}
	for range max(min(o.Concurrency, o.Circles), 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c := int(next.Add(1)) - 1
				if c >= o.Circles {
					return
				}
				if err := setupCircle(ctx, r, p, c, size, tpl, o); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("circle %d: %w", c, err) })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for c := range p.Polls {
		p.PollBase = append(p.PollBase, len(p.PollIDs))
		for _, poll := range p.Polls[c] {
			p.PollIDs = append(p.PollIDs, poll.ID)
		}
	}
	return p, nil
}

func setupCircle(ctx context.Context, r *REST, p *Population, c, size int, tpl string, o SetupOptions) error {
	if o.Reuse != nil {
		return openPolls(ctx, r, p, c, o.Reuse.Circles[c], o.Reuse.Members[c], tpl, o.PollsPerCircle)
	}
	members := make([]Member, o.Members)
	var err error
	if members[0].User, err = r.Login(ctx, fmt.Sprintf("%s-c%d-m0", o.Prefix, c)); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	circle, err := r.CreateCircle(ctx, members[0].Token, fmt.Sprintf("Class %d", c), size, "m0")
	if err != nil {
		return fmt.Errorf("create circle: %w", err)
	}
	for j := 1; j < o.Members; j++ {
		if members[j].User, err = r.Login(ctx, fmt.Sprintf("%s-c%d-m%d", o.Prefix, c, j)); err != nil {
			return fmt.Errorf("login: %w", err)
		}
		if members[j].MemberID, err = r.Join(ctx, members[j].Token, circle.InviteCode, fmt.Sprintf("m%d", j)); err != nil {
			return fmt.Errorf("join: %w", err)
		}
	}
	return openPolls(ctx, r, p, c, circle, members, tpl, o.PollsPerCircle)
}

// openPolls has the circle's creator open n polls and records the circle in p.
func openPolls(ctx context.Context, r *REST, p *Population, c int, circle Circle, members []Member, tpl string, n int) error {
	polls := make([]Poll, n)
	for k := range polls {
		var err error
		if polls[k], err = r.CreatePoll(ctx, members[0].Token, circle.ID, tpl); err != nil {
			return fmt.Errorf("create poll: %w", err)
		}
	}
	p.Circles[c], p.Members[c], p.Polls[c] = circle, members, polls
	return nil
}

// SavePopulation writes the users and circles (not the polls) for a later run's Reuse. The file
// holds access tokens.
func SavePopulation(path string, p *Population) error {
	b, err := json.Marshal(Population{Circles: p.Circles, Members: p.Members})
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// LoadPopulation reads a file written by SavePopulation; a missing file is (nil, nil).
func LoadPopulation(path string) (*Population, error) {
	b, err := os.ReadFile(path) //nolint:gosec // the operator names the file on the command line
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p Population
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

// Logins signs in n devices (for scenarios that need users but no circles).
func Logins(ctx context.Context, r *REST, n, concurrency int, prefix string) ([]User, error) {
	users := make([]User, n)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range max(min(concurrency, n), 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				u, err := r.Login(ctx, fmt.Sprintf("%s-u%d", prefix, i))
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("login: %w", err) })
					return
				}
				users[i] = u
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return users, firstErr
}
