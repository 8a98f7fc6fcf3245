package web_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The in-process cost of the API's reads beyond GET /api/v1/me: one bot
// (BenchmarkAPIBot) and a page of 20 (BenchmarkAPIBots), through the real
// handler on a database with 20 bots.
//
//	go test -run '^$' -bench 'APIMe|APIBot' -cpuprofile cpu.out ./web/

func BenchmarkAPIBot(b *testing.B) {
	h, o, ids := mustBotsBench(b)
	benchGet(b, h, "/api/v1/bots/"+ids[7], o)
}

func BenchmarkAPIBots(b *testing.B) {
	h, o, _ := mustBotsBench(b)
	benchGet(b, h, "/api/v1/bots?limit=20", o)
}

func benchGet(b *testing.B, h http.Handler, path, key string) {
	req := httptest.NewRequest(http.MethodGet, "https://127.0.0.1"+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status = %d, want 200; body %s", w.Code, w.Body)
		}
	}
}

// mustBotsBench starts an App as mustMeBench does, with 20 bots, and
// returns its handler, a read key and the bots' ids.
func mustBotsBench(b *testing.B) (http.Handler, string, []string) {
	b.Helper()
	app, o := mustBenchApp(b)
	h := app.Web.Handler()
	var ids []string
	for i := range 20 {
		body := `{"meeting_url": "https://meet.example.com/abc-` + strings.Repeat("x", i%5) + `", "bot_name": "Notetaker"}`
		req := httptest.NewRequest(http.MethodPost, "https://127.0.0.1/api/v1/bots", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+o.Write)
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusCreated {
			b.Fatalf("create bot: status = %d; body %s", w.Code, w.Body)
		}
		var bot struct{ ID string }
		if err := json.Unmarshal(w.Body.Bytes(), &bot); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, bot.ID)
	}
	return h, o.Read, ids
}
