package torch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The BLAS trap (issue "Hazards"): with Debian's libtorch, libblas.so.3 comes from the
// alternatives system, and OpenBLAS's pthread build, once installed, is selected by priority.
// spanqa's Debian build must load the OpenMP build anyway. On a machine where the trap is set
// the check runs in this process; elsewhere (as root, with libopenblas0-pthread installed) the
// test sets the trap in a private mount namespace, over a copy of /etc/alternatives, and runs
// the check in a child process there, leaving the machine as it was.
const blasTrapChild = "SPANQA_BLAS_TRAP_CHILD"

func systemLib(name string) string {
	matches, _ := filepath.Glob("/usr/lib/*-linux-gnu/" + name)
	if len(matches) == 0 {
		return ""
	}
	return matches[0]
}

func TestBLASTrap(t *testing.T) {
	usesSystemBLAS := false
	for _, p := range mappedBLAS() {
		if strings.Contains(p, "openblas") {
			usesSystemBLAS = true
		}
	}
	if !usesSystemBLAS {
		t.Skipf("SKIPPED: this libtorch (%s) does not take the system's OpenBLAS (mapped: %v)", CompiledVersion(), mappedBLAS())
	}
	pthreadDir := filepath.Join(filepath.Dir(systemLib("libblas.so.3")), "openblas-pthread")
	if _, err := os.Stat(filepath.Join(pthreadDir, "libblas.so.3")); err != nil {
		t.Skipf("SKIPPED LOUDLY: the trap needs OpenBLAS's pthread build (apt-get install libopenblas0-pthread): %v", err)
	}
	if trapSet() {
		requireOpenMPBLAS(t)
		return
	}
	if os.Getuid() != 0 {
		t.Skip("SKIPPED LOUDLY: setting the trap in a private mount namespace needs root")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("SKIPPED LOUDLY: no unshare(1) to set the trap privately")
	}
	// A copy of /etc/alternatives in which the pthread build is selected, as
	// update-alternatives would leave it.
	alts := t.TempDir()
	entries, err := os.ReadDir("/etc/alternatives")
	require.NoError(t, err)
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/etc/alternatives", e.Name()))
		if err != nil {
			continue
		}
		if strings.Contains(target, "openblas-openmp") {
			target = strings.Replace(target, "openblas-openmp", "openblas-pthread", 1)
		}
		require.NoError(t, os.Symlink(target, filepath.Join(alts, e.Name())))
	}
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(unshare, "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$0" /etc/alternatives && exec "$1" -test.run '^TestBLASTrap$' -test.v -test.count=1`, alts, self)
	cmd.Env = append(os.Environ(), blasTrapChild+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "mount") && strings.Contains(string(out), "ermission") {
		t.Skipf("SKIPPED LOUDLY: no private mounts here: %s", out)
	}
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "trap set: libblas.so.3 ->", "the child did not see the trap:\n%s", out)
	t.Logf("child under the trap:\n%s", out)
}

// trapSet reports whether the system's libblas.so.3 resolves to OpenBLAS's pthread build.
func trapSet() bool {
	real, err := filepath.EvalSymlinks(systemLib("libblas.so.3"))
	return err == nil && strings.Contains(real, "openblas-pthread")
}

func requireOpenMPBLAS(t *testing.T) {
	real, _ := filepath.EvalSymlinks(systemLib("libblas.so.3"))
	t.Logf("trap set: libblas.so.3 -> %s", real)
	mapped := mappedBLAS()
	for _, p := range mapped {
		require.NotContains(t, p, "openblas-pthread", "the pthread OpenBLAS was loaded: %v", mapped)
	}
	require.NotEmpty(t, mapped)
	require.Contains(t, strings.Join(mapped, " "), "openblas-openmp", "mapped: %v", mapped)
	require.Empty(t, BLASWarning())
}

// A process that loads OpenBLAS's pthread build anyway (another libtorch; here forced with
// LD_PRELOAD) is warned, in one line that names the fix.
func TestBLASWarningFiresForPthreadOpenBLAS(t *testing.T) {
	if os.Getenv("SPANQA_BLAS_WARN_CHILD") != "" {
		w := BLASWarning()
		require.Contains(t, w, "openblas-pthread", "mapped: %v", mappedBLAS())
		require.Contains(t, w, "libopenblas0-openmp")
		require.NotContains(t, w, "\n")
		return
	}
	lib := filepath.Join(filepath.Dir(systemLib("libblas.so.3")), "openblas-pthread", "libblas.so.3")
	if _, err := os.Stat(lib); err != nil {
		t.Skipf("SKIPPED LOUDLY: needs OpenBLAS's pthread build (apt-get install libopenblas0-pthread): %v", err)
	}
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, "-test.run", "^TestBLASWarningFiresForPthreadOpenBLAS$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SPANQA_BLAS_WARN_CHILD=1", "LD_PRELOAD="+lib)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}
