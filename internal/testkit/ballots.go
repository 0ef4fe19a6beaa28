package testkit

import "circly/ballot"

// BallotSecret is the secret tests seal ballots with; server processes started by tests get it
// as BALLOT_KEY, so every replica of a test opens every other's ballots.
const BallotSecret = "circly-test-ballot-key-0123456789abcdef"

// Ballots is a ballot box under BallotSecret.
func Ballots() *ballot.Box {
	k, err := ballot.DeriveKey(BallotSecret)
	if err != nil {
		panic(err)
	}
	b, err := ballot.NewBox(k)
	if err != nil {
		panic(err)
	}
	return b
}
