// Package circly is the domain of the service, named after it: circles and their members,
// polls, ballots' tallies and results, notifications, reports, the product rules (Policy, Rank)
// and the error codes of the API contract. It imports no infrastructure: package sqlstore keeps
// them in SQL, package app runs the use cases on them.
package circly
