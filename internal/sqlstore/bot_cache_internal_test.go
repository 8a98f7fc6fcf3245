package sqlstore

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
)

// Every SQLite database this package's tests open watches its writes to
// the bots table: a commit that changes an organization's bots without
// moving its cache generation panics, whichever test makes it.
func init() { watchBotWrites = true }

// botCacheFixture is a fresh SQLite database on a settable clock, with
// one organization and its BotService.
type botCacheFixture struct {
	db   *DB
	now  time.Time
	bots *BotService
	orgs *OrganizationService
	org  *keygate.Organization
	ctx  context.Context // acting for org, as an API key of it
	user context.Context // its Owner, signed in
}

func mustBotCacheFixture(t *testing.T) *botCacheFixture {
	t.Helper()
	f := &botCacheFixture{now: time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)}
	f.db = NewDB(filepath.Join(t.TempDir(), "keygate.db"))
	f.db.Now = func() time.Time { return f.now }
	if err := f.db.OpenAndMigrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	hasher := password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 0)
	user, org, err := NewUserService(f.db, hasher).Signup(context.Background(), &keygate.Signup{
		Name: "Ada", Email: "ada@example.com", Password: "correct horse battery staple 42", OrganizationName: "Acme",
	})
	if err != nil {
		t.Fatal(err)
	}
	f.org, f.bots, f.orgs = org, NewBotService(f.db), NewOrganizationService(f.db)
	f.ctx = keygate.NewContextWithOrganization(context.Background(), org.ID)
	f.user = keygate.NewContextWithUser(context.Background(), user)
	return f
}

func (f *botCacheFixture) mustCreate(t *testing.T, name string, joinAt *time.Time) *keygate.Bot {
	t.Helper()
	b, err := f.bots.CreateBot(f.ctx, &keygate.BotCreate{MeetingURL: "https://meet.example.com/abc-defg-hij", BotName: name, JoinAt: joinAt})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// behindTheCache changes the database the way no service does, without
// telling the cache: what a read then says shows whether it was cached.
func (f *botCacheFixture) behindTheCache(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := f.db.write.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

func (f *botCacheFixture) mustFind(t *testing.T, id string) *keygate.Bot {
	t.Helper()
	b, err := f.bots.FindBotByID(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *botCacheFixture) mustList(t *testing.T, filter keygate.BotFilter) []string {
	t.Helper()
	bots, _, err := f.bots.FindBots(f.ctx, filter)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(bots))
	for i, b := range bots {
		names[i] = b.BotName + ":" + b.State
	}
	return names
}

func TestBotCache_Reads(t *testing.T) {
	t.Parallel()
	f := mustBotCacheFixture(t)
	bot := f.mustCreate(t, "first", nil)

	// A read is cached: a change no service made is not seen...
	f.mustFind(t, bot.PublicID)
	f.behindTheCache(t, `UPDATE bots SET bot_name = 'renamed' WHERE id = ?`, bot.ID)
	if got := f.mustFind(t, bot.PublicID).BotName; got != "first" {
		t.Fatalf("name %q, want the cached first", got)
	}
	// ...until the entry is botCacheMaxAge old.
	f.now = f.now.Add(botCacheMaxAge - time.Millisecond)
	if got := f.mustFind(t, bot.PublicID).BotName; got != "first" {
		t.Fatalf("name %q just before the maximum age, want first", got)
	}
	f.now = f.now.Add(time.Millisecond)
	if got := f.mustFind(t, bot.PublicID).BotName; got != "renamed" {
		t.Fatalf("name %q at the maximum age, want renamed", got)
	}

	// What a caller is given is its own.
	f.mustFind(t, bot.PublicID).BotName = "scribbled"
	if got := f.mustFind(t, bot.PublicID).BotName; got != "renamed" {
		t.Fatalf("a caller's change reached the cache: %q", got)
	}

	// A cached scheduled bot turns joining when its join time comes, as
	// the database would say.
	joinAt := f.now.Add(10 * time.Second)
	later := f.mustCreate(t, "later", &joinAt)
	if got := f.mustFind(t, later.PublicID).State; got != keygate.BotScheduled {
		t.Fatalf("state %q, want scheduled", got)
	}
	if got, want := f.mustList(t, keygate.BotFilter{}), []string{"later:scheduled", "renamed:joining"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("list %q, want %q", got, want)
	}
	f.behindTheCache(t, `UPDATE bots SET bot_name = 'later, cached' WHERE id = ?`, later.ID)
	f.now = joinAt
	b := f.mustFind(t, later.PublicID)
	if b.BotName != "later" || b.State != keygate.BotJoining {
		t.Fatalf("at its join time: %q %q, want the cached name and joining", b.BotName, b.State)
	}
	if got, want := f.mustList(t, keygate.BotFilter{}), []string{"later:joining", "renamed:joining"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("list at the join time %q, want %q", got, want)
	}
	// Lists filtered by a state that time changes are never cached.
	if got, want := f.mustList(t, keygate.BotFilter{State: keygate.BotJoining}), []string{"later, cached:joining", "renamed:joining"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("joining list %q, want %q from the database", got, want)
	}
	// A bot that is not there is not cached.
	if _, err := f.bots.FindBotByID(f.ctx, "bot_missing"); keygate.ErrorCode(err) != keygate.ENOTFOUND {
		t.Fatalf("missing bot: %v", err)
	}
}

// A read that started before a change and finishes after it must not
// leave what it read in the cache.
func TestBotCache_ReadRacingAChange(t *testing.T) {
	t.Parallel()
	c := newBotCache()
	now := time.Now()
	k := botCacheKey{org: 1, id: "bot_a"}
	_, _, gen, ok := c.get(k, now)
	if ok {
		t.Fatal("hit in an empty cache")
	}
	c.changed(1) // commits while the read queries
	c.put(k, gen, now, []*keygate.Bot{{PublicID: "bot_a", BotName: "before"}}, false)
	if _, _, _, ok := c.get(k, now); ok {
		t.Fatal("a read from before the change was cached")
	}
	// Another organization's change does not touch it.
	_, _, gen, _ = c.get(k, now)
	c.changed(2)
	c.put(k, gen, now, []*keygate.Bot{{PublicID: "bot_a", BotName: "after"}}, false)
	if bots, _, _, ok := c.get(k, now); !ok || bots[0].BotName != "after" {
		t.Fatalf("got %v %v, want the cached read", bots, ok)
	}
	// The cache is bounded.
	for i := range botCacheEntries + 10 {
		c.put(botCacheKey{org: 1, page: keygate.Page{After: int64(i)}}, gen, now, nil, false)
	}
	if n := len(c.entries); n > botCacheEntries {
		t.Fatalf("%d entries, want at most %d", n, botCacheEntries)
	}
	big := make([]*keygate.Bot, 100)
	for i := range big {
		big[i] = &keygate.Bot{Metadata: make([]byte, keygate.MetadataMaxLen)}
	}
	for i := range 200 { // 80 MB of pages, were they all kept
		c.put(botCacheKey{org: 1, page: keygate.Page{Before: int64(i)}}, gen, now, big, false)
		if c.bytes > botCacheBytes {
			t.Fatalf("%d bytes held, want at most %d", c.bytes, botCacheBytes)
		}
	}
	if _, _, _, ok := c.get(botCacheKey{org: 1, page: keygate.Page{Before: 199}}, now); !ok {
		t.Fatal("the last page put is not cached")
	}
}

// botReads are the BotService methods that only read.
var botReads = map[string]bool{"FindBotByID": true, "FindBots": true, "FindBotStateChanges": true}

// TestBotCache_EveryWriteMovesGeneration drives every way of changing
// bots and checks the cached reads see each change at once. Under
// watchBotWrites, a write that forgot Tx.botsChanged panics here, and a
// new BotService method must be added to this test.
func TestBotCache_EveryWriteMovesGeneration(t *testing.T) {
	t.Parallel()
	f := mustBotCacheFixture(t)
	joinAt := f.now.Add(time.Minute)
	kept := f.mustCreate(t, "kept", &joinAt)
	name := "renamed"
	writes := []struct {
		method string
		do     func() error
		want   []string // the list afterwards
	}{
		{"CreateBot", func() error {
			_, err := f.bots.CreateBot(f.ctx, &keygate.BotCreate{MeetingURL: "https://meet.example.com/x", BotName: "new"})
			return err
		},
			[]string{"new:joining", "kept:scheduled"}},
		{"UpdateBot", func() error {
			_, err := f.bots.UpdateBot(f.ctx, kept.PublicID, &keygate.BotUpdate{BotName: &name})
			return err
		},
			[]string{"new:joining", "renamed:scheduled"}},
		{"LeaveBot", func() error { _, err := f.bots.LeaveBot(f.ctx, kept.PublicID); return err },
			[]string{"new:joining", "renamed:ended"}},
		{"DeleteBot", func() error { return f.bots.DeleteBot(f.ctx, kept.PublicID) },
			[]string{"new:joining"}},
	}
	covered := map[string]bool{}
	for _, w := range writes {
		f.mustList(t, keygate.BotFilter{}) // cached before the write
		if err := w.do(); err != nil {
			t.Fatalf("%s: %v", w.method, err)
		}
		if got := f.mustList(t, keygate.BotFilter{}); !reflect.DeepEqual(got, w.want) {
			t.Errorf("after %s the list is %q, want %q", w.method, got, w.want)
		}
		covered[w.method] = true
	}
	typ := reflect.TypeOf(f.bots)
	for i := range typ.NumMethod() {
		if m := typ.Method(i).Name; !botReads[m] && !covered[m] {
			t.Errorf("BotService.%s is neither a read (botReads) nor driven here", m)
		}
	}

	// Deleting the organization takes its bots, and its id may be taken
	// by the next one.
	f.mustList(t, keygate.BotFilter{})
	if err := f.orgs.DeleteOrganization(f.user, f.org.PublicID, f.org.Name); err != nil {
		t.Fatal(err)
	}
	if got := f.mustList(t, keygate.BotFilter{}); len(got) != 0 {
		t.Errorf("after deleting the organization its list is %q", got)
	}
}

// The watch itself: a transaction that changes bots behind botsChanged's
// back panics at commit.
func TestBotCache_WatchCatchesAForgottenWrite(t *testing.T) {
	t.Parallel()
	f := mustBotCacheFixture(t)
	bot := f.mustCreate(t, "watched", nil)
	tx, err := f.db.BeginTx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`UPDATE bots SET bot_name = 'sneaky' WHERE id = ?`, bot.ID); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a forgotten botsChanged did not panic")
		}
	}()
	tx.Commit()
}
