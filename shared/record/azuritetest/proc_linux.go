package azuritetest

import (
	"os/exec"
	"syscall"
)

// procAttr puts Azurite in its own process group and has the kernel kill it if the
// test binary dies (a panic or `go test -timeout`), so no emulator outlives its tests.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// kill ends the emulator's process group: the one this binary started, by its id.
func kill(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
}
