package testenv_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/keygate/keygate/internal/testenv"
)

func TestSkipUnlessCI(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		testenv.SkipUnlessCI(t, "nothing to run with")
		return
	}
	for _, ci := range []string{"", "true"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSkipUnlessCI$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", "CI="+ci)
		out, err := cmd.CombinedOutput()
		skipped := strings.Contains(string(out), "--- SKIP")
		switch {
		case ci == "" && (err != nil || !skipped):
			t.Errorf("CI unset: want a skip, got err=%v\n%s", err, out)
		case ci == "true" && (err == nil || skipped || !strings.Contains(string(out), "nothing to run with (under CI=true")):
			t.Errorf("CI=true: want a failure naming the reason, got err=%v\n%s", err, out)
		}
	}
}
