package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

type userStatsJSON struct {
	PollsCreated  int64 `json:"polls_created"`
	VotesCast     int64 `json:"votes_cast"`
	CirclesJoined int64 `json:"circles_joined"`
	StreakDays    int   `json:"streak_days"`
}

type dayStatsJSON struct {
	Date  string `json:"date"`
	Polls int64  `json:"polls"`
	Votes int64  `json:"votes"`
}

type circleStatsJSON struct {
	CircleID          string         `json:"circle_id"`
	TotalPolls        int64          `json:"total_polls"`
	TotalVotes        int64          `json:"total_votes"`
	ClosedPolls       int64          `json:"closed_polls"`
	ParticipationRate float64        `json:"participation_rate"`
	Daily             []dayStatsJSON `json:"daily"`
}

func (s *Server) userStats(c *gin.Context) error {
	st, err := s.app.UserStats(c.Request.Context(), userID(c))
	if err != nil {
		return err
	}
	ok(c, http.StatusOK, userStatsJSON{PollsCreated: st.PollsCreated, VotesCast: st.VotesCast,
		CirclesJoined: st.CirclesJoined, StreakDays: st.StreakDays})
	return nil
}

func (s *Server) circleStats(c *gin.Context) error {
	id, err := uuidParam(c, "id")
	if err != nil {
		return err
	}
	st, err := s.app.CircleStats(c.Request.Context(), userID(c), id)
	if err != nil {
		return err
	}
	out := circleStatsJSON{CircleID: st.CircleID, TotalPolls: st.TotalPolls, TotalVotes: st.TotalVotes,
		ClosedPolls: st.ClosedPolls, ParticipationRate: st.ParticipationRate, Daily: make([]dayStatsJSON, len(st.Daily))}
	for i, d := range st.Daily {
		out.Daily[i] = dayStatsJSON{Date: d.Date, Polls: d.Polls, Votes: d.Votes}
	}
	ok(c, http.StatusOK, out)
	return nil
}
