package app

import "circly"

// OptionCountJSON is one option's released count.
type OptionCountJSON struct {
	OptionID  string `json:"option_id"`
	VoteCount int    `json:"vote_count"`
}

// TallyJSON is the released tally as every client sees it: REST answers and live frames.
type TallyJSON struct {
	PollID     string            `json:"poll_id"`
	Version    int               `json:"version"`
	TotalVotes int               `json:"total_votes"`
	Options    []OptionCountJSON `json:"options"`
	IsClosed   bool              `json:"is_closed"`
}

// TallyView converts a store tally to its API shape.
func TallyView(t circly.Tally) TallyJSON {
	out := TallyJSON{PollID: t.PollID, Version: t.Version, TotalVotes: t.TotalVotes, IsClosed: t.IsClosed,
		Options: make([]OptionCountJSON, len(t.Options))}
	for i, o := range t.Options {
		out.Options[i] = OptionCountJSON{OptionID: o.OptionID, VoteCount: o.VoteCount}
	}
	return out
}

// ResultJSON is one option's place in the results.
type ResultJSON struct {
	OptionID       string  `json:"option_id"`
	MemberNickname string  `json:"member_nickname"`
	VoteCount      int     `json:"vote_count"`
	Percentage     float64 `json:"percentage"`
	Rank           int     `json:"rank"`
}

// ResultsJSON is GET /v1/polls/{id}/results and the data of a poll_closed frame.
type ResultsJSON struct {
	PollID       string       `json:"poll_id"`
	QuestionText string       `json:"question_text"`
	TotalVotes   int          `json:"total_votes"`
	IsClosed     bool         `json:"is_closed"`
	Version      int          `json:"version"`
	Results      []ResultJSON `json:"results"`
	Winner       *ResultJSON  `json:"winner"`
}

func resultView(r circly.Result) ResultJSON {
	return ResultJSON{OptionID: r.OptionID, MemberNickname: r.MemberNickname, VoteCount: r.VoteCount,
		Percentage: r.Percentage, Rank: r.Rank}
}

// ResultsView converts store results to their API shape.
func ResultsView(r circly.Results) ResultsJSON {
	out := ResultsJSON{PollID: r.PollID, QuestionText: r.QuestionText, TotalVotes: r.TotalVotes, IsClosed: r.IsClosed,
		Version: r.Version, Results: make([]ResultJSON, len(r.Results))}
	for i, x := range r.Results {
		out.Results[i] = resultView(x)
	}
	if r.Winner != nil {
		w := resultView(*r.Winner)
		out.Winner = &w
	}
	return out
}
