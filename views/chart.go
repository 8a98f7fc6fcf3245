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
// computed here, so it can be tested without a browser. Positions are
// percentages of the plot area (0 to 100 across, 0 at the top to 100 at
// the bottom): the SVG has no viewBox, so bars stretch to any width while
// the axis labels, drawn beside the plot, keep their pixel size.
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
	// Minor labels are left out where the chart is narrow (every other
	// day label), so the rest do not overlap.
	Minor bool
}

// Chart dimensions, in percent of the plot area.
const (
	chartSize    = 100
	chartMaxXLbl = 10
	chartMinBarW = 0.15
)

// NewChart lays out points as a stacked bar chart.
func NewChart(id, title string, points []ChartPoint) Chart {
	c := Chart{ID: id, Title: title, Width: chartSize, Height: chartSize, Points: points,
		Left: 0, Top: 0, Right: chartSize, Bottom: chartSize}
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
	barW := math.Max(band*0.7, chartMinBarW)
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
			c.XLabels = append(c.XLabels, ChartTick{Pos: round2(x + barW/2), Label: p.Label, Minor: len(c.XLabels)%2 == 1})
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

// pct formats a position in the plot area as an SVG percentage.
func pct(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + "%" }
