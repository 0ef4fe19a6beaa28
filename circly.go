// Package circly is the domain of the service, named after it: what its rules refuse, as the
// error codes of the API contract and the errors that carry them. (The domain's types and rules
// still live beside their SQL in package models; they move here next.)
package circly
