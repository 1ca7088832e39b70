//go:build unix && !linux

package dist

import "syscall"

// workerProcAttr puts a worker in its own process group, so that a Ctrl-C at the terminal
// reaches only the launcher, which forwards it once.
func workerProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
