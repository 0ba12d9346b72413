package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
)

// listenSystemd is the listen address that takes the socket systemd
// passes to the daemon (socket activation, sd_listen_fds(3)).
const listenSystemd = "systemd"

// systemdFirstFD is the first file descriptor systemd passes.
const systemdFirstFD = 3

// systemdListener returns the first socket passed by systemd: LISTEN_PID
// must be this process and LISTEN_FDS at least 1; the socket is file
// descriptor 3. The variables are then unset, so that no child process
// takes them for its own.
func systemdListener() (net.Listener, error) {
	pid, _ := strconv.Atoi(os.Getenv("LISTEN_PID"))
	n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if pid != os.Getpid() || n < 1 {
		return nil, errors.New(`listen "systemd": no socket passed by systemd (LISTEN_PID and LISTEN_FDS not set for this process)`)
	}
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	f := os.NewFile(systemdFirstFD, "systemd socket")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf(`listen "systemd": file descriptor 3: %w`, err)
	}
	return ln, nil
}
