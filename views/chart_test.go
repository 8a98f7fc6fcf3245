package views_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/keygate/keygate/views"
)

func TestChartGeometry(t *testing.T) {
	points := []views.ChartPoint{
		{Label: "Mon", Values: map[string]int{"2xx": 80}},
		{Label: "Tue", Values: map[string]int{"2xx": 40, "4xx": 20, "5xx": 10, "429": 10}},
		{Label: "Wed", Values: map[string]int{}},
		{Label: "Thu", Values: map[string]int{"429": 100}},
	}
	c := views.NewChart("reqs", "Requests per day", points)
	if c.Max != 100 {
		t.Fatalf("max = %d, want 100", c.Max)
	}
	plotH := c.Bottom - c.Top // 182
	band := (c.Right - c.Left) / 4
	// Mon: one 2xx bar of 80% of the plot.
	if got := c.Bars[0]; got.Series != "2xx" || !near(got.H, plotH*0.8) || !near(got.Y+got.H, c.Bottom) {
		t.Fatalf("Mon bar = %+v", got)
	}
	// Tue: four stacked segments, bottom up, touching, summing to 80%.
	tue := c.Bars[1:5]
	wantSeries := []string{"2xx", "4xx", "5xx", "429"}
	bottom := c.Bottom
	var total float64
	for i, b := range tue {
		if b.Series != wantSeries[i] || !near(b.Y+b.H, bottom) {
			t.Fatalf("Tue segment %d = %+v, bottom %v", i, b, bottom)
		}
		bottom = b.Y
		total += b.H
	}
	if !near(total, plotH*0.8) || !near(tue[0].H, plotH*0.4) || !near(tue[2].H, plotH*0.1) {
		t.Fatalf("Tue heights: %+v", tue)
	}
	// Wed has no bars; Thu is a full-height 429 bar in the fourth band.
	thu := c.Bars[5]
	if len(c.Bars) != 6 || thu.Series != "429" || !near(thu.H, plotH) || !near(thu.Y, c.Top) {
		t.Fatalf("Thu bar = %+v (bars %d)", thu, len(c.Bars))
	}
	if !near(thu.X, c.Left+3*band+band*0.15) || !near(thu.W, band*0.7) {
		t.Fatalf("Thu x/w = %v/%v", thu.X, thu.W)
	}
	if got := thu.Title; got != "Thu · 429: 100" {
		t.Fatalf("title = %q", got)
	}
	// Ticks: 0, 25, 50, 75, 100 from the bottom up.
	for i, tk := range c.YTicks {
		if tk.Label != strconv.Itoa(25*i) || !near(tk.Pos, c.Bottom-plotH*float64(i)/4) {
			t.Fatalf("tick %d = %+v", i, tk)
		}
	}
}

func TestChartRender(t *testing.T) {
	var points []views.ChartPoint
	for i := 0; i < 30; i++ {
		points = append(points, views.ChartPoint{Label: "D" + strconv.Itoa(i), Values: map[string]int{"2xx": i, "5xx": 1}})
	}
	doc := renderChart(t, points)
	if n := doc.Find("svg rect").Length(); n != 59 { // day 0 has no 2xx
		t.Fatalf("rects = %d, want 59", n)
	}
	if got := doc.Find("svg rect[data-series='5xx'] title").First().Text(); got != "D0 · 5xx: 1" {
		t.Fatalf("hover title = %q", got)
	}
	if n := doc.Find("svg text.chart-axis[text-anchor=middle]").Length(); n != 10 {
		t.Fatalf("x labels = %d, want 10", n)
	}
	if n := doc.Find("table.visually-hidden tbody tr").Length(); n != 30 {
		t.Fatalf("data table rows = %d", n)
	}
	if got := doc.Find("table.visually-hidden tbody tr").Eq(29).Find("td").First().Text(); got != "29" {
		t.Fatalf("last row 2xx = %q", got)
	}
	if _, ok := doc.Find("svg").Attr("aria-labelledby"); !ok {
		t.Fatal("svg unlabelled")
	}
}

func TestChartEmpty(t *testing.T) {
	c := views.NewChart("e", "Nothing", nil)
	if len(c.Bars) != 0 || c.Max != 4 || len(c.YTicks) != 5 {
		t.Fatalf("empty chart = %+v", c)
	}
}

func near(a, b float64) bool { d := a - b; return d < 0.02 && d > -0.02 }

// TestChartTextIsNeverScaled checks that no SVG of the chart is scaled to
// fit (a viewBox, or preserveAspectRatio="none"), so axis labels keep their
// pixel size on a phone, and that bars are placed in percent of the plot.
func TestChartTextIsNeverScaled(t *testing.T) {
	var points []views.ChartPoint
	for i := 0; i < 30; i++ {
		points = append(points, views.ChartPoint{Label: "D" + strconv.Itoa(i), Values: map[string]int{"2xx": 10}})
	}
	doc := renderChart(t, points)
	doc.Find("svg").Each(func(_ int, s *goquery.Selection) {
		for _, a := range []string{"viewBox", "preserveAspectRatio", "viewbox", "preserveaspectratio"} {
			if v, ok := s.Attr(a); ok {
				t.Errorf("svg.%s has %s=%q", s.AttrOr("class", ""), a, v)
			}
		}
	})
	if n := doc.Find("svg.chart-plot text").Length(); n != 0 {
		t.Errorf("%d labels inside the plot", n)
	}
	bar := doc.Find("svg.chart-plot rect").Last()
	if got, want := bar.AttrOr("x", ""), "97.17%"; got != want {
		t.Errorf("last bar x = %q, want %q", got, want)
	}
	if got, want := bar.AttrOr("height", ""), "50%"; got != want {
		t.Errorf("last bar height = %q, want %q", got, want)
	}
	var minor []bool
	doc.Find("svg.chart-x text").Each(func(_ int, s *goquery.Selection) { minor = append(minor, s.HasClass("chart-axis-minor")) })
	if len(minor) != 10 {
		t.Fatalf("x labels = %d, want 10", len(minor))
	}
	for i, m := range minor {
		if m != (i%2 == 1) {
			t.Fatalf("minor x labels = %v, want every other one", minor)
		}
	}
}

// renderChart renders a thirty-day chart of points and parses it.
func renderChart(t *testing.T, points []views.ChartPoint) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := views.UsageChart(views.NewChart("t", "Thirty days", points)).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}
