//go:build !linux

package testrediscluster

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
