package loadtest_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/keygate/cmd/keygate-bench/internal/loadtest"
)

// -serve-only prints each scenario's URL and key, and the servers answer
// them until the context ends.
func TestServeOnly(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() {
		_, runErr = loadtest.Run(ctx, loadtest.Options{Keys: 1, ServeOnly: true, Targets: pw})
		pw.Close()
	})
	defer func() { cancel(); io.Copy(io.Discard, pr); wg.Wait() }()

	targets := map[string][2]string{}
	sc := bufio.NewScanner(pr)
	for len(targets) < 5 && sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) == 3 {
			if _, seen := targets[f[0]]; !seen {
				targets[f[0]] = [2]string{f[1], f[2]}
			}
		}
	}
	for _, id := range []string{"bare", "me", "forward", "bot", "bots"} {
		tg, ok := targets[id]
		if !ok {
			t.Fatalf("no %s target among %v", id, targets)
		}
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		req, _ := http.NewRequest(http.MethodGet, tg[0], nil)
		req.Header.Set("Authorization", tg[1])
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: status %d", id, tg[0], resp.StatusCode)
		}
	}
	cancel()
	io.Copy(io.Discard, pr)
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
}
