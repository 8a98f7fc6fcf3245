package loadtest

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// The load can come from a second process pinned to a core of its own
// (Options.Pin): a client sharing the server's cores takes CPU from it,
// and the more so the cheaper each request is, which caps the bare
// baseline and flatters the ratios against it. The parent sends each
// slice as a line of JSON on the child's stdin and reads its outcome from
// the child's stdout.

// ClientFlag is the flag that makes keygate-bench the load client
// (ServeClient) instead of the benchmark.
const ClientFlag = "-load-client"

// remoteRun is one slice to run: the target, the load, and, in the first
// message only, the server's certificate.
type remoteRun struct {
	CertDER   []byte        `json:"cert_der,omitempty"`
	CPUs      []int         `json:"cpus,omitempty"`
	URLs      []string      `json:"urls"`
	Auth      []string      `json:"auth"`
	Workers   int           `json:"workers"`
	Duration  time.Duration `json:"duration"`
	Limit     int           `json:"limit"`
	CloseIdle bool          `json:"close_idle,omitempty"`
}

// remotePhase is a phase as the child reports it.
type remotePhase struct {
	Requests  int             `json:"requests"`
	Non2xx    int             `json:"non2xx"`
	Errors    int             `json:"errors"`
	FirstErr  string          `json:"first_error,omitempty"`
	Elapsed   time.Duration   `json:"elapsed"`
	Latencies []time.Duration `json:"latencies"`
	Dials     int64           `json:"dials"`
	CPU       time.Duration   `json:"cpu"`
	Err       string          `json:"error,omitempty"`
}

// ServeClient runs slices read from in and writes their outcomes to out,
// until in ends. It is the child's main.
func ServeClient(in io.Reader, out io.Writer) error {
	dec, enc := json.NewDecoder(bufio.NewReader(in)), json.NewEncoder(out)
	var c *client
	for {
		var run remoteRun
		if err := dec.Decode(&run); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if len(run.CPUs) > 0 {
			if err := pinProcess(run.CPUs); err != nil {
				return err
			}
		}
		if c == nil {
			leaf, err := x509.ParseCertificate(run.CertDER)
			if err != nil {
				return enc.Encode(remotePhase{Err: err.Error()})
			}
			roots := x509.NewCertPool()
			roots.AddCert(leaf)
			c = newClient(roots, run.Workers)
		}
		if run.CloseIdle {
			c.tr.CloseIdleConnections()
			if err := enc.Encode(remotePhase{}); err != nil {
				return err
			}
			continue
		}
		dials, cpu := c.dials.Load(), cpuTime()
		p := c.run(context.Background(), target{urls: run.URLs, auth: run.Auth}, run.Workers, run.Duration, run.Limit)
		rp := remotePhase{Requests: p.requests, Non2xx: p.non2xx, Errors: p.errors, Elapsed: p.elapsed,
			Latencies: p.latencies, Dials: c.dials.Load() - dials, CPU: cpuTime() - cpu}
		if p.firstErr != nil {
			rp.FirstErr = p.firstErr.Error()
		}
		if err := enc.Encode(rp); err != nil {
			return err
		}
	}
}

// remoteClient is the parent's end of a load client process.
type remoteClient struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	enc  *json.Encoder
	dec  *json.Decoder
	cert []byte
	cpus []int
	// dials counts the connections the child dialed; cpu its CPU time.
	dials int64
	cpu   time.Duration
}

// startRemoteClient starts this program again as the load client, pinned
// to cpus, trusting the certificate cert.
func startRemoteClient(cert []byte, cpus []int) (*remoteClient, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, ClientFlag)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the load client: %w", err)
	}
	return &remoteClient{cmd: cmd, in: in, enc: json.NewEncoder(in), dec: json.NewDecoder(bufio.NewReader(out)), cert: cert, cpus: cpus}, nil
}

// run runs one slice in the child, as client.run does in process.
func (rc *remoteClient) run(ctx context.Context, t target, workers int, d time.Duration, limit int) *phase {
	msg := remoteRun{URLs: t.urls, Auth: t.auth, Workers: workers, Duration: d, Limit: limit}
	if rc.cert != nil {
		msg.CertDER, msg.CPUs, rc.cert = rc.cert, rc.cpus, nil
	}
	var rp remotePhase
	err := rc.enc.Encode(msg)
	if err == nil {
		err = rc.dec.Decode(&rp)
	}
	if err == nil && rp.Err != "" {
		err = errors.New(rp.Err)
	}
	if err != nil {
		return &phase{errors: 1, firstErr: fmt.Errorf("load client: %w", err)}
	}
	rc.dials += rp.Dials
	rc.cpu += rp.CPU
	p := &phase{requests: rp.Requests, non2xx: rp.Non2xx, errors: rp.Errors, elapsed: rp.Elapsed, latencies: rp.Latencies}
	if rp.FirstErr != "" {
		p.firstErr = errors.New(rp.FirstErr)
	}
	return p
}

func (rc *remoteClient) dialed() int64 { return rc.dials }

// close ends the child.
func (rc *remoteClient) close() {
	rc.in.Close()
	done := make(chan struct{})
	go func() { rc.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		rc.cmd.Process.Kill()
		<-done
	}
}
