package dist

import "syscall"

// workerProcAttr puts a worker in its own process group, so that a Ctrl-C at the terminal
// reaches only the launcher, which forwards it once (otherwise every worker would get it twice);
// Pdeathsig stops the workers should the launcher itself be killed.
func workerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
