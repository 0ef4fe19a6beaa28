package testproc

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// PostgresAccount hands dir to the `postgres` account (Debian's packages create it) and returns
// the credential to run a program as it: PostgreSQL and pgbouncer refuse to run as root. what
// names the program in the error.
func PostgresAccount(dir, what string) (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("no postgres account to run %s as: %w", what, err)
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
