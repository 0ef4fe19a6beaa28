package testpg

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// postgresAccount hands dir to the `postgres` account (Debian's packages create it) and returns
// the credential to run PostgreSQL's programs with.
func postgresAccount(dir string) (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("no postgres account to run the server as: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}
