package main

import "syscall"

// daemonProcAttr puts a daemon started by local or experiment in its own
// process group (Ctrl-C reaches the parent, which stops the nodes in
// order) and has the kernel send it SIGTERM if the parent dies first (a
// closed terminal, kill -9): no daemon outlives its swarm holding its
// repo's lock.
func daemonProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
