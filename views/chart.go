package views

import (
	"fmt"
	"math"
	"strconv"
)

// ChartSeries are the stacked series of a usage chart, bottom first.
var ChartSeries = []string{"2xx", "4xx", "5xx", "429"}

// ChartPoint is one bar of a stacked bar chart: a label and a value per
// series.
type ChartPoint struct {
	Label  string
	Values map[string]int
}

// Total is the height of the whole stack.
func (p ChartPoint) Total() int {
	n := 0
	for _, s := range ChartSeries {
		n += p.Values[s]
	}
	return n
}

// Chart is a server-rendered SVG stacked bar chart with its geometry
// computed here, so it can be tested without a browser.
type Chart struct {
	ID      string
	Title   string
	Width   float64
	Height  float64
	Points  []ChartPoint
	Bars    []ChartBar
	YTicks  []ChartTick
	XLabels []ChartTick
	// Plot area.
	Left, Top, Right, Bottom float64
	Max                      int
}

// ChartBar is one rectangle of one series in one bar.
type ChartBar struct {
	X, Y, W, H float64
	Series     string
	Title      string
}

// ChartTick is an axis tick with its label.
type ChartTick struct {
	Pos   float64
	Label string
}

// Chart dimensions, in SVG user units.
const (
	chartWidth   = 720
	chartHeight  = 220
	chartLeft    = 48
	chartRight   = 8
	chartTop     = 10
	chartBottom  = 28
	chartMaxXLbl = 10
)

// NewChart lays out points as a stacked bar chart.
func NewChart(id, title string, points []ChartPoint) Chart {
	c := Chart{ID: id, Title: title, Width: chartWidth, Height: chartHeight, Points: points,
		Left: chartLeft, Top: chartTop, Right: chartWidth - chartRight, Bottom: chartHeight - chartBottom}
	top := 0
	for _, p := range points {
		top = max(top, p.Total())
	}
	c.Max = niceCeil(top)
	plotH := c.Bottom - c.Top
	for i := 0; i <= 4; i++ {
		v := c.Max * i / 4
		c.YTicks = append(c.YTicks, ChartTick{Pos: c.Bottom - plotH*float64(v)/float64(c.Max), Label: shortNumber(v)})
	}
	if len(points) == 0 {
		return c
	}
	band := (c.Right - c.Left) / float64(len(points))
	barW := math.Max(band*0.7, 1)
	every := int(math.Ceil(float64(len(points)) / chartMaxXLbl))
	for i, p := range points {
		x := c.Left + band*float64(i) + (band-barW)/2
		y := c.Bottom
		for _, s := range ChartSeries {
			v := p.Values[s]
			if v == 0 {
				continue
			}
			h := plotH * float64(v) / float64(c.Max)
			y -= h
			c.Bars = append(c.Bars, ChartBar{X: round2(x), Y: round2(y), W: round2(barW), H: round2(h), Series: s,
				Title: fmt.Sprintf("%s · %s: %d", p.Label, s, v)})
		}
		if i%every == 0 {
			c.XLabels = append(c.XLabels, ChartTick{Pos: round2(x + barW/2), Label: p.Label})
		}
	}
	return c
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (at least 4, so
// the four y-axis steps are whole numbers).
func niceCeil(n int) int {
	if n <= 4 {
		return 4
	}
	mag := int(math.Pow(10, math.Floor(math.Log10(float64(n)))))
	for _, m := range []int{1, 2, 4, 5, 10} {
		if m*mag >= n && (m*mag)%4 == 0 {
			return m * mag
		}
	}
	return 10 * mag
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// shortNumber writes 1200 as 1.2k and 3000000 as 3M.
func shortNumber(n int) string {
	switch {
	case n >= 1_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + "M"
	case n >= 1_000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', -1, 64) + "k"
	}
	return strconv.Itoa(n)
}

// f formats an SVG coordinate.
func f(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
