package app_test

import (
	"circly/app"
	"circly/hub"
)

// LiveAccess answers the hub's questions without the app importing the hub.
var (
	_ hub.Authorizer     = (*app.LiveAccess)(nil)
	_ hub.SnapshotSource = (*app.LiveAccess)(nil)
)
