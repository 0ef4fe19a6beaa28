package e2e_test

import (
	"fmt"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"

	"circly/internal/testdb"
	"circly/internal/testredis"
)

// distributedEnv is the settings of one replica of a two-replica deployment.
func distributedEnv(t *testing.T, pgURL, redisURL, secret string) map[string]string {
	return map[string]string{
		"DATABASE_URL": pgURL, "REDIS_URL": redisURL, "SECRET_KEY": secret,
		"DATA_DIR": t.TempDir(), "ENV": "development", "LOG_LEVEL": "warn",
		"TALLY_RELEASE_BATCH": "1", "POLL_OPEN_LIMIT": "0", "POLL_DAILY_LIMIT": "0",
		"RATE_LIMIT_REQUESTS": "0", "AUTH_RATE_LIMIT": "0", "DB_MAX_OPEN_CONNS": "10",
	}
}

// startReplicas starts two replicas on one fresh schema at the same time: both apply the
// migrations on start (ENV=development), which must be safe under goose's advisory lock.
func startReplicas(t *testing.T) (a, b *proc) {
	t.Helper()
	pg := testdb.PostgresSchemaURL(t)
	rd := testredis.New(t).URL()
	secret := "e2e-shared-secret-0123456789abcdef-" + t.Name()
	a = startProc(t, "replica-A", distributedEnv(t, pg, rd, secret))
	b = startProc(t, "replica-B", distributedEnv(t, pg, rd, secret))
	a.waitHealthy(90 * time.Second)
	b.waitHealthy(90 * time.Second)
	return a, b
}

// TestTwoReplicasExactCounts: two processes on one PostgreSQL schema keep one ballot per member
// per poll and exact counts, also under concurrent double-submits to both replicas.
func TestTwoReplicasExactCounts(t *testing.T) {
	A, B := startReplicas(t)
	servers := []string{A.URL, B.URL}

	// A token from one replica is good on the other (shared SECRET_KEY).
	const members = 20
	users := loginMany(t, "voter", members, servers...)
	must(t, 200, "GET", B.URL+"/v1/users/me", users[0].Token, nil)
	must(t, 200, "GET", A.URL+"/v1/users/me", users[1].Token, nil)

	circle := must(t, 201, "POST", A.URL+"/v1/circles", users[0].Token,
		map[string]any{"name": "Class 2-3", "max_members": 25, "nickname": "m00"})
	circleID := circle["id"].(string)
	code := circle["invite_code"].(string)
	users[0].Nickname = "m00"
	for i := 1; i < members; i++ {
		users[i].Nickname = fmt.Sprintf("m%02d", i)
		d := must(t, 200, "POST", servers[i%2]+"/v1/circles/join", users[i].Token,
			map[string]any{"invite_code": code, "nickname": users[i].Nickname})
		users[i].MemberID = d["membership"].(map[string]any)["id"].(string)
	}
	detail := must(t, 200, "GET", B.URL+"/v1/circles/"+circleID, users[0].Token, nil)
	for _, m := range detail["members"].([]any) {
		mm := m.(map[string]any)
		if mm["is_self"] == true {
			users[0].MemberID = mm["id"].(string)
		}
	}
	if n := len(detail["members"].([]any)); n != members || users[0].MemberID == "" {
		t.Fatalf("circle has %d members (creator member id %q), want %d", n, users[0].MemberID, members)
	}

	// Several polls by different creators, created through replica A.
	tmpl := firstTemplate(t, A.URL, users[0].Token)
	creators := []int{0, 7, 13}
	type pollInfo struct {
		id        string
		optionIDs []string
		optionOf  map[string]string // member id -> option id
	}
	polls := make([]pollInfo, len(creators))
	for k, c := range creators {
		p := must(t, 201, "POST", A.URL+"/v1/polls", users[c].Token,
			map[string]any{"circle_id": circleID, "template_id": tmpl, "duration_hours": 1})
		ids, mids := optionsOf(t, p)
		if len(ids) != members-1 {
			t.Fatalf("poll %d has %d options, want %d", k, len(ids), members-1)
		}
		info := pollInfo{id: p["id"].(string), optionIDs: ids, optionOf: map[string]string{}}
		for i, mid := range mids {
			if mid == users[c].MemberID {
				t.Fatalf("poll %d lists its creator as an option", k)
			}
			info.optionOf[mid] = ids[i]
		}
		polls[k] = info
	}

	// pick chooses a valid option (never the voter's own) deterministically.
	pick := func(p pollInfo, voter, salt int) string {
		own := p.optionOf[users[voter].MemberID]
		for j := 0; ; j++ {
			o := p.optionIDs[(voter*7+salt*3+j)%len(p.optionIDs)]
			if o != own {
				return o
			}
		}
	}

	// Every member votes in every poll: the primary vote on one replica and, at the same time,
	// a duplicate (for a different option) on the other.
	type attempt struct {
		poll, voter int
		option      string
		status      int
		code        string
		err         error
		tally       map[string]any
	}
	var attempts []*attempt
	for k := range polls {
		for i := range members {
			first := pick(polls[k], i, k)
			second := pick(polls[k], i, k+1)
			if second == first {
				second = pick(polls[k], i, k+2)
			}
			attempts = append(attempts, &attempt{poll: k, voter: i, option: first}, &attempt{poll: k, voter: i, option: second})
		}
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for n, a := range attempts {
		server := servers[(a.voter+n)%2] // the pair of attempts goes to different replicas
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := call("POST", server+"/v1/polls/"+polls[a.poll].id+"/vote", users[a.voter].Token,
				map[string]any{"option_id": a.option})
			a.status, a.code, a.err = r.Status, r.Code(), err
			if t, ok := r.Data()["tally"].(map[string]any); ok {
				a.tally = t
			}
		}()
	}
	close(start)
	wg.Wait()

	want := make([]map[string]int, len(polls)) // poll -> option -> count
	for k := range want {
		want[k] = map[string]int{}
	}
	created := map[[2]int]int{}
	for _, a := range attempts {
		switch {
		case a.err != nil:
			t.Errorf("poll %d voter %d: %v", a.poll, a.voter, a.err)
		case a.status == http.StatusCreated:
			created[[2]int{a.poll, a.voter}]++
			want[a.poll][a.option]++
			if a.tally == nil || num(a.tally["version"]) < 1 || num(a.tally["total_votes"]) < 1 {
				t.Errorf("poll %d voter %d: vote answer without a released tally: %v", a.poll, a.voter, a.tally)
			}
		case a.status == http.StatusConflict && a.code == "ALREADY_VOTED":
		default:
			t.Errorf("poll %d voter %d: status %d code %q, want 201 or 409 ALREADY_VOTED", a.poll, a.voter, a.status, a.code)
		}
	}
	rejected := 0
	for _, a := range attempts {
		if a.status == http.StatusConflict {
			rejected++
		}
	}
	t.Logf("%d votes sent to two replicas: %d accepted, %d ALREADY_VOTED", len(attempts), len(attempts)-rejected, rejected)
	for k := range polls {
		for i := range members {
			if n := created[[2]int{k, i}]; n != 1 {
				t.Errorf("poll %d voter %d: %d accepted votes, want exactly 1", k, i, n)
			}
		}
	}

	// Results agree with what was sent, on both replicas, for members of both.
	for k, p := range polls {
		for _, srv := range servers {
			r := must(t, 200, "GET", srv+"/v1/polls/"+p.id+"/results", users[(k+1)%members].Token, nil)
			if got := num(r["total_votes"]); got != members {
				t.Errorf("poll %d on %s: total_votes %d, want %d", k, srv, got, members)
			}
			if got := num(r["version"]); got != members {
				t.Errorf("poll %d on %s: version %d, want %d (one release per vote at batch 1)", k, srv, got, members)
			}
			sum, pct := 0, 0.0
			for _, x := range r["results"].([]any) {
				res := x.(map[string]any)
				oid := res["option_id"].(string)
				c := num(res["vote_count"])
				sum += c
				pct += res["percentage"].(float64)
				if c != want[k][oid] {
					t.Errorf("poll %d on %s: option %s has %d votes, want %d", k, srv, oid, c, want[k][oid])
				}
			}
			if sum != members {
				t.Errorf("poll %d on %s: option counts sum to %d, want %d", k, srv, sum, members)
			}
			if math.Abs(pct-100) > 0.1 {
				t.Errorf("poll %d on %s: percentages sum to %.2f", k, srv, pct)
			}
			g := must(t, 200, "GET", srv+"/v1/polls/"+p.id, users[k].Token, nil)
			if num(g["total_votes"]) != members || g["user_voted"] != true || num(g["version"]) != members {
				t.Errorf("poll %d on %s: GET poll total_votes=%v user_voted=%v version=%v", k, srv,
					g["total_votes"], g["user_voted"], g["version"])
			}
		}
	}

	t.Run("JoinRaceAcrossReplicas", func(t *testing.T) {
		creator := loginMany(t, "owner", 1, A.URL)[0]
		c := must(t, 201, "POST", A.URL+"/v1/circles", creator.Token,
			map[string]any{"name": "Full house", "max_members": 25, "nickname": "owner"})
		const joiners = 30
		js := loginMany(t, "joiner", joiners, servers...)
		status := make([]int, joiners)
		codes := make([]string, joiners)
		errs := make([]error, joiners)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range joiners {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r, err := call("POST", servers[i%2]+"/v1/circles/join", js[i].Token,
					map[string]any{"invite_code": c["invite_code"], "nickname": fmt.Sprintf("j%02d", i)})
				status[i], codes[i], errs[i] = r.Status, r.Code(), err
			}()
		}
		close(start)
		wg.Wait()
		joined, full := 0, 0
		for i := range joiners {
			switch {
			case errs[i] != nil:
				t.Errorf("joiner %d: %v", i, errs[i])
			case status[i] == http.StatusOK:
				joined++
			case status[i] == http.StatusConflict && codes[i] == "CIRCLE_FULL":
				full++
			default:
				t.Errorf("joiner %d: %d %s", i, status[i], codes[i])
			}
		}
		// The creator is the first of the 25 members.
		if joined != 24 || full != joiners-24 {
			t.Errorf("%d joined and %d got CIRCLE_FULL, want 24 and %d", joined, full, joiners-24)
		}
		for _, srv := range servers {
			d := must(t, 200, "GET", srv+"/v1/circles/"+c["id"].(string), creator.Token, nil)
			if n := len(d["members"].([]any)); n != 25 || num(d["member_count"]) != 25 {
				t.Errorf("on %s: %d members listed, member_count %v, want 25", srv, n, d["member_count"])
			}
		}
	})
}
