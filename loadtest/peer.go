package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// The peer (bench/peer) is a reference server on the centrifugal/centrifuge library. It has no
// REST API: the generator makes the population itself (random ids, tokens signed with the
// peer's secret, as Circly signs its own) and, where Circly's scenarios vote, publishes the tally
// the vote would have released through the peer's POST /publish, the same JSON shape and size.

// PeerToken signs an access token the peer accepts: Circly's own shape (HS256, issuer circly,
// subject the user id, an expiry).
func PeerToken(secret, userID string, ttl time.Duration) (string, error) {
	now := time.Now()
	claims := jwt.RegisteredClaims{Issuer: "circly", Subject: userID, IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl))}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// PeerUsers makes n users with tokens for the peer.
func PeerUsers(secret string, n int) ([]User, error) {
	users := make([]User, n)
	for i := range users {
		users[i].ID = uuid.NewString()
		tok, err := PeerToken(secret, users[i].ID, 24*time.Hour)
		if err != nil {
			return nil, err
		}
		users[i].Token = tok
	}
	return users, nil
}

// PeerPopulation is a population shaped like Setup's (circles of members, polls whose options
// are every member but the creator) made without a server.
func PeerPopulation(secret string, circles, members, polls int) (*Population, error) {
	users, err := PeerUsers(secret, circles*members)
	if err != nil {
		return nil, err
	}
	p := &Population{Circles: make([]Circle, circles), Members: make([][]Member, circles), Polls: make([][]Poll, circles)}
	for c := range circles {
		p.Circles[c] = Circle{ID: uuid.NewString()}
		ms := make([]Member, members)
		for j := range ms {
			ms[j].User = users[c*members+j]
			if j > 0 {
				ms[j].MemberID = uuid.NewString()
			}
		}
		p.Members[c] = ms
		ps := make([]Poll, polls)
		for k := range ps {
			ps[k].ID = uuid.NewString()
			for _, m := range ms[1:] {
				ps[k].Options = append(ps[k].Options, Option{ID: uuid.NewString(), MemberID: m.MemberID})
			}
		}
		p.Polls[c] = ps
		p.PollBase = append(p.PollBase, len(p.PollIDs))
		for _, poll := range ps {
			p.PollIDs = append(p.PollIDs, poll.ID)
		}
	}
	return p, nil
}

// Publisher sends tallies to the peer's POST /publish: for each ballot, the next version of its
// poll's tally, with the options' counts spread as votes would spread them.
type Publisher struct {
	URL    string // http://127.0.0.1:8100/publish
	Secret string // the peer's API key
	Client *http.Client

	polls    []Poll // by tracker index
	versions []atomic.Int64
}

// NewPublisher publishes the tallies of pop's polls to the peer at base.
func NewPublisher(base, secret string, client *http.Client, pop *Population) *Publisher {
	p := &Publisher{URL: base + "/publish", Secret: secret, Client: client}
	for _, ps := range pop.Polls {
		p.polls = append(p.polls, ps...)
	}
	p.versions = make([]atomic.Int64, len(p.polls))
	return p
}

// TallyJSON is the tally object of Circly's tally frame (app.TallyJSON, encoded by
// encoding/json) at version v with v votes spread over the options.
func TallyJSON(b []byte, poll Poll, v int64) []byte {
	b = append(b, `{"poll_id":"`...)
	b = append(b, poll.ID...)
	b = append(b, `","version":`...)
	b = strconv.AppendInt(b, v, 10)
	b = append(b, `,"total_votes":`...)
	b = strconv.AppendInt(b, v, 10)
	b = append(b, `,"options":[`...)
	n := int64(len(poll.Options))
	for k, o := range poll.Options {
		if k > 0 {
			b = append(b, ',')
		}
		count := v / n
		if int64(k) < v%n {
			count++
		}
		b = append(b, `{"option_id":"`...)
		b = append(b, o.ID...)
		b = append(b, `","vote_count":`...)
		b = strconv.AppendInt(b, count, 10)
		b = append(b, '}')
	}
	return append(b, `],"is_closed":false}`...)
}

// Publish sends the next tally of the ballot's poll and returns its version.
func (p *Publisher) Publish(ctx context.Context, bal Ballot) (int64, error) {
	poll := p.polls[bal.Poll]
	v := p.versions[bal.Poll].Add(1)
	body := append([]byte(`{"channel":"poll:`), poll.ID...)
	body = append(body, `","data":`...)
	body = append(TallyJSON(body, poll, v), '}')
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "apikey "+p.Secret)
	resp, err := p.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("POST /publish: HTTP %d %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	return v, nil
}
