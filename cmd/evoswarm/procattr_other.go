//go:build !linux

package main

import "syscall"

// daemonProcAttr puts a daemon started by local or experiment in its own
// process group: Ctrl-C reaches the parent, which stops the nodes in
// order. (Only Linux can have the kernel stop them if the parent dies.)
func daemonProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
