package password_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/password"
)

// tinyParams keeps tests fast; they are far below DefaultParams.
var tinyParams = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	h := password.NewHasher(password.DefaultParams, 0)
	ctx := context.Background()

	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	ok, err := h.Verify(ctx, enc, "correct horse battery staple")
	if err != nil || !ok {
		t.Fatalf("Verify(right password) = %v, %v; want true, nil", ok, err)
	}
	ok, err = h.Verify(ctx, enc, "correct horse battery stapler")
	if err != nil || ok {
		t.Fatalf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
	}
	ok, err = h.Verify(ctx, enc, "")
	if err != nil || ok {
		t.Fatalf("Verify(empty password) = %v, %v; want false, nil", ok, err)
	}
}

func TestHashEncoding(t *testing.T) {
	h := password.NewHasher(password.DefaultParams, 0)
	enc, err := h.Hash(context.Background(), "some password")
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	const wantPrefix = "$argon2id$v=19$m=19456,t=2,p=1$"
	if !strings.HasPrefix(enc, wantPrefix) {
		t.Fatalf("encoding %q does not start with %q", enc, wantPrefix)
	}
	parts := strings.Split(enc, "$")
	if len(parts) != 6 {
		t.Fatalf("encoding %q has %d $-fields, want 6", enc, len(parts))
	}
	// 16 bytes and 32 bytes in unpadded base64.
	if len(parts[4]) != 22 || len(parts[5]) != 43 {
		t.Errorf("salt/hash lengths %d/%d, want 22/43", len(parts[4]), len(parts[5]))
	}
	if strings.Contains(parts[4]+parts[5], "=") {
		t.Errorf("encoding %q has base64 padding", enc)
	}
}

func TestHashSalted(t *testing.T) {
	h := password.NewHasher(tinyParams, 0)
	ctx := context.Background()
	a, err := h.Hash(ctx, "same password")
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Hash(ctx, "same password")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two hashes of the same password are equal: %q", a)
	}
	for _, enc := range []string{a, b} {
		if ok, err := h.Verify(ctx, enc, "same password"); err != nil || !ok {
			t.Errorf("Verify(%q) = %v, %v; want true, nil", enc, ok, err)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	const (
		salt = "c29tZXNhbHRzb21lc2FsdA"                      // 16 bytes
		key  = "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g" // 32 bytes
	)
	valid := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	h := password.NewHasher(password.DefaultParams, 0)
	// The fixture must itself parse, or the table below proves nothing.
	if _, err := h.Verify(context.Background(), valid, "x"); err != nil {
		t.Fatalf("valid fixture rejected: %v", err)
	}

	tests := []struct {
		name, enc string
	}{
		{"empty", ""},
		{"plain text", "hunter2"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"no leading dollar", "argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"version not number", "$argon2id$v=x$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"empty hash", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"empty salt", "$argon2id$v=19$m=64,t=1,p=1$$" + key},
		{"extra field", valid + "$" + key},
		{"params out of order", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key},
		{"missing param", "$argon2id$v=19$m=64,t=1$" + salt + "$" + key},
		{"extra param", "$argon2id$v=19$m=64,t=1,p=1,x=1$" + salt + "$" + key},
		{"param not number", "$argon2id$v=19$m=lots,t=1,p=1$" + salt + "$" + key},
		{"negative param", "$argon2id$v=19$m=-64,t=1,p=1$" + salt + "$" + key},
		{"plus sign", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key},
		{"space in params", "$argon2id$v=19$m=64, t=1,p=1$" + salt + "$" + key},
		{"memory over 1 GiB", "$argon2id$v=19$m=1048577,t=1,p=1$" + salt + "$" + key},
		{"memory overflows uint32", "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key},
		{"memory zero", "$argon2id$v=19$m=0,t=1,p=1$" + salt + "$" + key},
		{"time over 20", "$argon2id$v=19$m=64,t=21,p=1$" + salt + "$" + key},
		{"time zero", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"threads zero", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"threads over 255", "$argon2id$v=19$m=65536,t=1,p=256$" + salt + "$" + key},
		{"salt too short", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key},
		{"hash too short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$aGE"},
		{"salt not base64", "$argon2id$v=19$m=64,t=1,p=1$!!!!notbase64!!!!!!!!!$" + key},
		{"hash not base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("*", 43)},
		{"padded base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"url base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("_", 43)},
		{"non-canonical base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt[:21] + "B$" + key},
		{"newline in salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt[:10] + "\n" + salt[10:] + "$" + key},
		{"huge", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 8192)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := h.Verify(context.Background(), tt.enc, "x")
			if err == nil || ok {
				t.Fatalf("Verify(%q) = %v, %v; want false and an error", tt.enc, ok, err)
			}
			if !errors.Is(err, password.ErrInvalidHash) {
				t.Errorf("error %v does not wrap ErrInvalidHash", err)
			}
			if !h.NeedsRehash(tt.enc) {
				t.Errorf("NeedsRehash(%q) = false for a malformed hash", tt.enc)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	def := password.NewHasher(password.DefaultParams, 0)
	tiny := password.NewHasher(tinyParams, 0)

	weak, err := tiny.Hash(ctx, "some password")
	if err != nil {
		t.Fatal(err)
	}
	if !def.NeedsRehash(weak) {
		t.Errorf("default hasher: NeedsRehash(tiny hash) = false, want true")
	}
	if tiny.NeedsRehash(weak) {
		t.Errorf("tiny hasher: NeedsRehash(own hash) = true, want false")
	}

	strong, err := def.Hash(ctx, "some password")
	if err != nil {
		t.Fatal(err)
	}
	if def.NeedsRehash(strong) {
		t.Errorf("default hasher: NeedsRehash(default hash) = true, want false")
	}
	if tiny.NeedsRehash(strong) {
		t.Errorf("tiny hasher: NeedsRehash(stronger hash) = true, want false")
	}

	// Each parameter on its own triggers a rehash.
	for name, p := range map[string]password.Params{
		"memory":  {Memory: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		"time":    {Memory: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32},
		"threads": {Memory: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32},
		"salt":    {Memory: 64, Time: 1, Threads: 1, SaltLen: 32, KeyLen: 32},
		"key":     {Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 64},
	} {
		if !password.NewHasher(p, 0).NeedsRehash(weak) {
			t.Errorf("raising %s: NeedsRehash = false, want true", name)
		}
	}
}

func TestVerifyUsesStoredParams(t *testing.T) {
	ctx := context.Background()
	enc, err := password.NewHasher(tinyParams, 0).Hash(ctx, "stored with tiny params")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("tiny encoding %q", enc)
	}
	def := password.NewHasher(password.DefaultParams, 0)
	ok, err := def.Verify(ctx, enc, "stored with tiny params")
	if err != nil || !ok {
		t.Fatalf("default Verify(tiny hash) = %v, %v; want true, nil", ok, err)
	}
	ok, err = def.Verify(ctx, enc, "something else entirely")
	if err != nil || ok {
		t.Fatalf("default Verify(tiny hash, wrong) = %v, %v; want false, nil", ok, err)
	}
}

func TestHashInvalidParams(t *testing.T) {
	for name, p := range map[string]password.Params{
		"zero":        {},
		"no threads":  {Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		"no time":     {Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		"huge memory": {Memory: 1<<20 + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		"short salt":  {Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		"short key":   {Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 2},
	} {
		_, err := password.NewHasher(p, 1).Hash(context.Background(), "pw")
		if !errors.Is(err, password.ErrInvalidParams) {
			t.Errorf("%s: Hash error = %v, want ErrInvalidParams", name, err)
		}
	}
}

func TestSemaphore(t *testing.T) {
	h := password.NewHasher(tinyParams, 1)
	enc, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}

	release := h.HoldSlot()

	// Already cancelled.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(cancelled, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with cancelled ctx: err = %v, want context.Canceled", err)
	}
	if ok, err := h.Verify(cancelled, enc, "pw"); ok || !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with cancelled ctx = %v, %v; want false, context.Canceled", ok, err)
	}

	// Cancelled while waiting for the held slot.
	waiting, cancelWaiting := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(waiting, "pw")
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Hash returned %v while the only slot was held", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancelWaiting()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Hash cancelled while waiting: err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Hash did not return after its context was cancelled")
	}

	// A deadline while waiting.
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if _, err := h.Verify(short, enc, "pw"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Verify past deadline: err = %v, want context.DeadlineExceeded", err)
	}

	// Once released, a waiter proceeds.
	go func() {
		ok, err := h.Verify(context.Background(), enc, "pw")
		if err == nil && !ok {
			err = errors.New("wrong result")
		}
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Verify after release: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Verify did not proceed after the slot was released")
	}
}

func TestConcurrent(t *testing.T) {
	h := password.NewHasher(tinyParams, 2)
	ctx := context.Background()
	errs := make(chan error, 16)
	for i := range 16 {
		go func() {
			pw := strings.Repeat("x", i+1)
			enc, err := h.Hash(ctx, pw)
			if err == nil {
				var ok bool
				ok, err = h.Verify(ctx, enc, pw)
				if err == nil && !ok {
					err = errors.New("verify failed")
				}
			}
			h.VerifyDummy(ctx, pw)
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestVerifyDummy(t *testing.T) {
	h := password.NewHasher(tinyParams, 1)
	// Must not panic and must be callable repeatedly, including with a
	// cancelled context.
	h.VerifyDummy(context.Background(), "whatever")
	h.VerifyDummy(context.Background(), "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.VerifyDummy(ctx, "whatever")

	// It takes roughly as long as a real Verify at the same params.
	def := password.NewHasher(password.DefaultParams, 1)
	enc, err := def.Hash(context.Background(), "real password")
	if err != nil {
		t.Fatal(err)
	}
	def.VerifyDummy(context.Background(), "warm up")
	// Compare the fastest of a few runs of each to damp scheduler noise.
	fastest := func(f func()) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 3 {
			start := time.Now()
			f()
			best = min(best, time.Since(start))
		}
		return best
	}
	verify := fastest(func() {
		if _, err := def.Verify(context.Background(), enc, "guess"); err != nil {
			t.Fatal(err)
		}
	})
	dummy := fastest(func() { def.VerifyDummy(context.Background(), "guess") })
	if dummy < verify/4 {
		t.Errorf("VerifyDummy took %v, real Verify %v: dummy does not do comparable work", dummy, verify)
	}
}

func BenchmarkHash(b *testing.B) {
	h := password.NewHasher(password.DefaultParams, 1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
