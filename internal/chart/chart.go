// Package chart draws small line and bar charts as SVG on the server: no JavaScript, no CDN, no
// inline style (presentation attributes only, so the console's Content-Security-Policy holds).
// The SVG is text and shapes; every text is escaped. The console puts a table and a CSV download
// next to each chart, so the numbers are readable without it.
package chart

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Palette colours series in order (colour-blind-safe, Okabe-Ito).
var Palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"}

// Series is a named line: one value per label.
type Series struct {
	Name   string
	Values []float64
}

// Size of the drawing, in SVG user units (it scales to its container).
const (
	width   = 720
	height  = 260
	left    = 56
	right   = 16
	top     = 16
	bottom  = 56
	maxBars = 50
)

// Line draws series over labels (x, in order) as lines, with a y axis from 0, at most 8 x labels
// and a legend. title labels the image for screen readers.
func Line(title string, labels []string, series []Series) string {
	var b strings.Builder
	open(&b, title, height)
	maxV := 0.0
	for _, s := range series {
		for _, v := range s.Values {
			maxV = math.Max(maxV, v)
		}
	}
	ticks, top := niceTicks(maxV)
	plotW, plotH := float64(width-left-right), float64(height-top-bottom)
	y := func(v float64) float64 { return float64(top) + plotH - v/top*plotH }
	for _, t := range ticks {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, left, width-right, y(t), y(t))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" font-size="11" fill="#444">%s</text>`, left-6, y(t)+4, num(t))
	}
	n := len(labels)
	x := func(i int) float64 {
		if n <= 1 {
			return float64(left) + plotW/2
		}
		return float64(left) + plotW*float64(i)/float64(n-1)
	}
	step := max(1, (n+7)/8)
	for i := 0; i < n; i += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="11" fill="#444">%s</text>`, x(i), height-bottom+16, esc(labels[i]))
	}
	for si, s := range series {
		c := Palette[si%len(Palette)]
		var pts []string
		for i, v := range s.Values {
			if i >= n {
				break
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
		}
		if len(pts) == 1 {
			fmt.Fprintf(&b, `<circle cx="%s" r="3" fill="%s"/>`, strings.Replace(pts[0], ",", `" cy="`, 1), c)
		} else if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, c, strings.Join(pts, " "))
		}
	}
	// legend
	lx := float64(left)
	for si, s := range series {
		c := Palette[si%len(Palette)]
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="12" height="12" fill="%s"/>`, lx, height-20, c)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12" fill="#222">%s</text>`, lx+16, height-10, esc(s.Name))
		lx += 24 + 7*float64(len(s.Name))
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#888"/>`, left, width-right, height-bottom, height-bottom)
	b.WriteString(`</svg>`)
	return b.String()
}

// Bar is one bar: a label and its value.
type Bar struct {
	Label string
	Value float64
}

// Bars draws horizontal bars, largest scale from 0, at most 50 (the rest are left out).
func Bars(title string, bars []Bar) string {
	if len(bars) > maxBars {
		bars = bars[:maxBars]
	}
	const row, labelW = 22, 200
	h := top + row*max(1, len(bars)) + 8
	var b strings.Builder
	open(&b, title, h)
	maxV := 0.0
	for _, x := range bars {
		maxV = math.Max(maxV, x.Value)
	}
	if maxV <= 0 {
		maxV = 1
	}
	plotW := float64(width - labelW - right - 60)
	for i, x := range bars {
		y := top + i*row
		label := x.Label
		if r := []rune(label); len(r) > 30 {
			label = string(r[:29]) + "…"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" font-size="12" fill="#222">%s</text>`, labelW-8, y+14, esc(label))
		w := math.Max(0, x.Value/maxV*plotW)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, labelW, y+3, w, row-6, Palette[0])
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="12" fill="#222">%s</text>`, float64(labelW)+w+6, y+14, num(x.Value))
	}
	if len(bars) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="#444">No data in this range.</text>`, left, top+14)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func open(b *strings.Builder, title string, h int) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s" class="chart"><title>%s</title>`,
		width, h, esc(title), esc(title))
}

func esc(s string) string { return html.EscapeString(s) }

// num prints a value without needless decimals: 12, 1.5, 12.3k.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(math.Round(v/1e5)/10, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(math.Round(v/100)/10, 'f', -1, 64) + "k"
	case a == math.Trunc(a):
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// niceTicks returns 0 and up to 5 round steps covering maxV, and the top of the axis.
func niceTicks(maxV float64) ([]float64, float64) {
	if maxV <= 0 {
		return []float64{0, 1}, 1
	}
	raw := maxV / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	if step < 1 {
		step = 1
	}
	var ticks []float64
	t := 0.0
	for ; t < maxV; t += step {
		ticks = append(ticks, t)
	}
	ticks = append(ticks, t)
	return ticks, t
}
