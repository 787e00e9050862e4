// Command chart draws the benchmark results (bench/results/latest.json, as
// bench/report writes it) as an SVG: grouped bars of messages/s per server
// in each scenario (log scale), the same for the server's CPU time per
// message, and bytes per idle connection per server (with the server's TLS
// connections beside when the run had the TLS section). libws's own
// servers are drawn in warm colours with a dark outline, the peers in cool,
// muted ones. When the run had the compression section, a panel shows
// msgs/s with permessage-deflate off and on per server; with the TLS
// section, a last one msgs/s and CPU per message over wss://.
// Standard library only.
//
// Usage: chart -in bench/results/latest.json -out bench/results/latest.svg
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

type scenario struct {
	ID       string `json:"id"`
	Label    string `json:"label"`
	Conns    int    `json:"conns"`
	Size     int    `json:"size"`
	Inflight int    `json:"inflight"`
}

type result struct {
	MsgsPerSec       float64 `json:"msgs_per_sec"`
	P99us            float64 `json:"p99_us"`
	PerCPUSec        float64 `json:"deliveries_per_cpu_sec"`
	ServerCPUPerMsg  float64 `json:"server_cpu_us_per_msg"`
	LoadgenSaturated bool    `json:"loadgen_saturated"`
	Disturbed        string  `json:"disturbed"`
	Error            string  `json:"error"`
}

type idle struct {
	Conns        int     `json:"conns"`
	BytesPerConn float64 `json:"bytes_per_conn"`
	Error        string  `json:"error"`
}

type server struct {
	Name     string             `json:"name"`
	Label    string             `json:"label"`
	Language string             `json:"language"`
	Libws    bool               `json:"libws"`
	Status   string             `json:"status"`
	Note     string             `json:"note"`
	Results  map[string]*result `json:"results"`
	Idle     *idle              `json:"idle"`
}

type compResult struct {
	Off       *result `json:"off"`
	On        *result `json:"on"`
	Deflate   bool    `json:"deflate"`
	OnOff     float64 `json:"on_off_ratio"`
	WireRatio float64 `json:"wire_ratio"`
}

type compServer struct {
	Name    string                 `json:"name"`
	Label   string                 `json:"label"`
	Libws   bool                   `json:"libws"`
	Status  string                 `json:"status"`
	Results map[string]*compResult `json:"results"`
}

type compression struct {
	Scenarios []scenario    `json:"scenarios"`
	Servers   []*compServer `json:"servers"`
}

type report struct {
	Date        string            `json:"date"`
	Machine     map[string]any    `json:"machine"`
	Pinning     string            `json:"pinning"`
	Method      map[string]any    `json:"method"`
	Load        map[string]string `json:"load_average"`
	Scenarios   []scenario        `json:"scenarios"`
	Servers     []*server         `json:"servers"`
	Compression *compression      `json:"compression"`
	TLS         *tlsSection       `json:"tls"`
	Fanout      *fanout           `json:"fanout"`
}

type tlsSection struct {
	Scenarios []scenario `json:"scenarios"`
	Servers   []*server  `json:"servers"`
}

var (
	libwsColors = []string{"#d62728", "#ff7f0e", "#f2b701", "#a0522d", "#e377c2", "#8c1d40"}
	// Peers: cooler and lighter, so that libws's bars stand out.
	peerColors = []string{"#4f7fb0", "#8fb3d9", "#7fc4cf", "#5e8c6a", "#8fbf8f", "#a99ccf", "#b5b5b5", "#c9d9a0"}
)

const font = `font-family="DejaVu Sans, Helvetica, Arial, sans-serif"`

func main() {
	in := flag.String("in", "bench/results/latest.json", "results JSON")
	out := flag.String("out", "bench/results/latest.svg", "SVG to write")
	flag.Parse()
	b, err := os.ReadFile(*in)
	if err != nil {
		fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		fatal(fmt.Errorf("%s: %w", *in, err))
	}
	if err := os.WriteFile(*out, []byte(draw(&rep)), 0o644); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "chart:", err)
	os.Exit(1)
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

type svg struct{ strings.Builder }

func (s *svg) f(format string, args ...any) { fmt.Fprintf(&s.Builder, format+"\n", args...) }

func (s *svg) text(x, y float64, size int, anchor, attrs, txt string) {
	s.f(`<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" %s>%s</text>`, x, y, size, anchor, attrs, esc(txt))
}

func rateLabel(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case v >= 1e3:
		if v >= 1e4 {
			return fmt.Sprintf("%.0fk", v/1e3)
		}
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

func bytesLabel(b float64) string {
	switch {
	case b >= 1<<20:
		return trimZero(fmt.Sprintf("%.1f", b/(1<<20))) + " MiB"
	case b >= 1024:
		return trimZero(fmt.Sprintf("%.1f", b/1024)) + " KiB"
	default:
		return fmt.Sprintf("%.0f B", b)
	}
}

func title(rep *report) string {
	date := rep.Date
	if t, err := time.Parse(time.RFC3339, rep.Date); err == nil {
		date = t.UTC().Format("2006-01-02 15:04 UTC")
	}
	cpu, _ := rep.Machine["cpu"].(string)
	cores := fmt.Sprint(rep.Machine["cores"])
	what := "libws echo benchmark"
	if len(rep.Servers) == 0 && rep.Fanout != nil {
		what = "libws fan-out benchmark"
	}
	return fmt.Sprintf("%s, %s: %s, %s cores", what, date, cpu, cores)
}

// The page's geometry.
const (
	width  = 1400.0
	left   = 90.0
	right  = 30.0
	top1   = 118.0 // panel 1 plot area top
	plot1H = 420.0
)

func draw(rep *report) string {
	servers := rep.Servers
	// The legend lists peers three to a row, then a line of notes.
	peerRows := 0
	for _, sv := range servers {
		if !sv.Libws {
			peerRows++
		}
	}
	peerRows = max(1, (peerRows+2)/3)
	legendH := 60.0 + 20*float64(peerRows)
	colors := map[string]string{}
	nl, np := 0, 0
	color := func(name string, libws bool) {
		switch {
		case colors[name] != "":
		case libws:
			colors[name] = libwsColors[nl%len(libwsColors)]
			nl++
		default:
			colors[name] = peerColors[np%len(peerColors)]
			np++
		}
	}
	for _, s := range servers {
		color(s.Name, s.Libws)
	}
	var comp []*compServer
	if rep.Compression != nil {
		comp = rep.Compression.Servers
		for _, s := range comp {
			color(s.Name, s.Libws)
		}
	}

	if rep.Fanout != nil {
		for _, s := range rep.Fanout.Servers {
			color(s.Name, s.Libws)
		}
	}
	var tlsServers []*server
	if rep.TLS != nil {
		tlsServers = rep.TLS.Servers
		for _, s := range tlsServers {
			color(s.Name, s.Libws)
		}
	}

	// Panel 1b: server CPU time per message, grouped like panel 1; left
	// out for results from before loadgen measured it.
	hasCPU := false
	for _, sv := range servers {
		for _, r := range sv.Results {
			hasCPU = hasCPU || (r != nil && r.ServerCPUPerMsg > 0)
		}
	}
	topC := top1 + plot1H + 88 + legendH + 60
	plotCH := 0.0
	if hasCPU {
		plotCH = 300 + 60 + 60 // plot, axis labels, gap
	}
	// Panel 2 geometry (bytes per idle connection: one horizontal bar
	// each, and a pale one under it for the server's TLS connections when
	// the run had the TLS section).
	tlsIdle := map[string]*idle{}
	for _, sv := range tlsServers {
		if sv.Status == "ok" && sv.Idle != nil {
			tlsIdle[sv.Name] = sv.Idle
		}
	}
	rowH := 24.0
	if len(tlsIdle) > 0 {
		rowH = 36
	}
	top2 := topC + plotCH
	plot2H := rowH * float64(len(servers))
	height := top2 + plot2H + 70
	// A run without the main section (--fanout-only, say) draws none of
	// panels 1, 1b and 2.
	hasMain := len(servers) > 0
	if !hasMain {
		height = top1 - 60
	}
	// Panel 3 (compression): per server, an off and an on bar per scenario.
	const compBarH = 14.0
	top3, compGroupH := height+50, 0.0
	if len(comp) > 0 {
		compGroupH = 20 + float64(2*len(rep.Compression.Scenarios))*compBarH + 10 // name row, bars, gap
		height = top3 + compGroupH*float64(len(comp)) + 60
	}
	// Panel 4 (TLS): per server, a msgs/s bar per scenario.
	top4, tlsGroupH := height+50, 0.0
	if len(tlsServers) > 0 {
		tlsGroupH = 20 + float64(len(rep.TLS.Scenarios))*compBarH + 10
		height = top4 + tlsGroupH*float64(len(tlsServers)) + 60
	}
	// Panel 5 (fan-out).
	top5 := height + 50
	hasFanout := rep.Fanout != nil && len(rep.Fanout.Servers) > 0
	if hasFanout {
		height = top5 + fanoutHeight(rep.Fanout) + 30
	}

	var s svg
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" %s>`, width, height, width, height, font)
	s.f(`<rect x="0" y="0" width="%.0f" height="%.0f" fill="#ffffff"/>`, width, height)
	s.text(width/2, 32, 22, "middle", `font-weight="bold" fill="#222"`, title(rep))
	sub := fmt.Sprintf("Each bar: median of %v runs of %vs after %vs warm-up; bench/loadgen, binary messages, every echo checked.",
		rep.Method["runs"], rep.Method["duration_s"], rep.Method["warmup_s"])
	if !hasMain {
		sub = "The fan-out section alone (bench/run.sh --fanout-only); bench/loadgen -fanout, text messages, every delivery checked."
	}
	s.text(width/2, 56, 13, "middle", `fill="#444"`, sub)
	load := "Pinning: " + rep.Pinning + ". Load average " + rep.Load["start"] + " at start, " + rep.Load["end"] + " at end."
	s.text(width/2, 75, 13, "middle", `fill="#444"`, load)

	if hasMain {
		drawMain(&s, rep, colors, tlsIdle, hasCPU, legendH, peerRows, topC, top2, plot2H, rowH)
	}
	labelW := 300.0
	x0 := left + labelW
	barMaxW := width - right - x0 - 90
	if len(comp) > 0 {
		drawCompression(&s, rep.Compression, colors, top3, compGroupH, compBarH, left, x0, barMaxW)
	}
	if len(tlsServers) > 0 {
		drawTLS(&s, rep.TLS, colors, top4, tlsGroupH, compBarH, left, x0, barMaxW)
	}
	if hasFanout {
		drawFanout(&s, rep.Fanout, colors, top5, left, width-left-right)
	}
	s.f(`</svg>`)
	return s.String()
}

// groupedPanel is what a panel of bars grouped by scenario shows: one
// value of each server's result, on a log scale.
type groupedPanel struct {
	title, axis, unit string
	value             func(*result) float64 // > 0, or not measured
	label             func(float64) string
	// group, when set, gives a scenario's two label lines (else its
	// connections × size, and messages in flight).
	group func(scenario) (string, string)
}

// grouped draws a panel of bars grouped by scenario (log scale), plot area
// at (left, top1) of plotW × plot1H, and says whether a bar was loadgen
// saturated, failed, or disturbed.
func (s *svg) grouped(scs []scenario, servers []*server, colors map[string]string, left, top1, plotW, plot1H float64, p groupedPanel) (anySat, anyFail, anyDist bool) {
	s.text(left, top1-14, 16, "start", `font-weight="bold" fill="#222"`, p.title)
	lo, hi := math.Inf(1), 0.0
	for _, sv := range servers {
		for _, r := range sv.Results {
			if r == nil || r.Error != "" {
				continue
			}
			if v := p.value(r); v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if hi == 0 {
		lo, hi = 1e3, 1e5
	}
	// The axis starts at a round value (1, 2 or 5 × 10^k) below the data and
	// leaves headroom above the tallest bar for its value label.
	yMin := roundDown125(lo / 1.3)
	yMax := hi * 1.8
	bottom1 := top1 + plot1H
	y := func(v float64) float64 {
		return bottom1 - (math.Log10(v)-math.Log10(yMin))/(math.Log10(yMax)-math.Log10(yMin))*plot1H
	}
	// Grid: 1, 2, 5 per decade.
	for d := math.Pow(10, math.Floor(math.Log10(yMin)+1e-9)); d < yMax*1.001; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := d * m
			if v < yMin*0.999 {
				continue
			}
			if v > yMax*1.001 {
				break
			}
			gy := y(v)
			stroke, sw := "#e4e4e4", 1.0
			if m == 1 {
				stroke, sw = "#bbbbbb", 1.2
			}
			s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"/>`, left, gy, left+plotW, gy, stroke, sw)
			s.text(left-8, gy+4, 12, "end", `fill="#444"`, p.label(v))
		}
	}
	s.f(`<text x="%.1f" y="%.1f" font-size="13" text-anchor="middle" fill="#333" transform="rotate(-90 %.1f %.1f)">%s</text>`,
		24.0, top1+plot1H/2, 24.0, top1+plot1H/2, esc(p.axis))
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`, left, top1, left, bottom1)
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`, left, bottom1, left+plotW, bottom1)

	groupW := plotW / float64(len(scs))
	barW := groupW * 0.86 / float64(max(len(servers), 1))
	for gi, sc := range scs {
		gx := left + float64(gi)*groupW + groupW*0.07
		if gi > 0 {
			sepX := left + float64(gi)*groupW
			s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#cccccc" stroke-dasharray="4 4"/>`, sepX, top1, sepX, bottom1)
		}
		cx := left + float64(gi)*groupW + groupW/2
		line1, line2 := fmt.Sprintf("%d conns × %s", sc.Conns, sizeLabel(sc.Size)), "1 message in flight"
		if sc.Inflight > 1 {
			line2 = fmt.Sprintf("%d messages in flight", sc.Inflight)
		}
		if p.group != nil {
			line1, line2 = p.group(sc)
		}
		s.text(cx, bottom1+19, 13, "middle", `font-weight="bold" fill="#222"`, line1)
		s.text(cx, bottom1+35, 12, "middle", `fill="#444"`, line2)
		// A pale band behind each of libws's own bars (each stands next
		// to its language's peers).
		for si, sv := range servers {
			if sv.Libws {
				s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#fdf0e0"/>`,
					gx+float64(si)*barW-1, top1, barW+2, plot1H)
			}
		}
		for si, sv := range servers {
			bx := gx + float64(si)*barW
			cx := bx + barW/2
			var r *result
			if sv.Results != nil {
				r = sv.Results[sc.ID]
			}
			switch {
			case sv.Status != "ok" || r == nil || (r.Error == "" && r.MsgsPerSec > 0 && p.value(r) <= 0):
				s.text(cx+3, bottom1-6, 9, "start", fmt.Sprintf(`fill="#999" transform="rotate(-90 %.1f %.1f)"`, cx+3, bottom1-6), "n/a")
			case r.Error != "" || r.MsgsPerSec <= 0:
				anyFail = true
				s.text(cx+4, bottom1-6, 10, "start", fmt.Sprintf(`fill="#c00" font-weight="bold" transform="rotate(-90 %.1f %.1f)"`, cx+4, bottom1-6), "FAILED")
			default:
				v := p.value(r)
				by := y(v)
				stroke := ""
				if sv.Libws {
					stroke = ` stroke="#222" stroke-width="1.2"`
				}
				s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"%s><title>%s, %s: %s %s</title></rect>`,
					bx+1, by, barW-2, bottom1-by, colors[sv.Name], stroke, esc(sv.Label), esc(sc.Label), p.label(v), p.unit)
				lbl := p.label(v)
				fill, weight := "#333", "normal"
				if r.LoadgenSaturated {
					lbl += " !"
					fill, weight = "#b00", "bold"
					anySat = true
				}
				if r.Disturbed != "" {
					lbl += " ?"
					anyDist = true
				}
				if sv.Libws {
					weight = "bold"
				}
				attrs := fmt.Sprintf(`fill="%s" font-weight="%s"`, fill, weight)
				s.text(cx+3.5, by-4, 10, "start", fmt.Sprintf(`%s transform="rotate(-90 %.1f %.1f)"`, attrs, cx+3.5, by-4), lbl)
			}
		}
	}

	return anySat, anyFail, anyDist
}

// drawCompression draws panel 3: for each server and scenario, msgs/s with
// permessage-deflate off (pale) and on (the server's colour), on one
// linear scale, with the on/off ratio and the compressed size ratio.
func drawCompression(s *svg, c *compression, colors map[string]string, top, groupH, barH, left, x0, barMaxW float64) {
	s.text(left, top-30, 16, "start", `font-weight="bold" fill="#222"`,
		"Compression: 1 KiB JSON-like text, msgs/s with permessage-deflate off (pale) and on (solid), higher is better (linear scale)")
	maxR := 0.0
	for _, sv := range c.Servers {
		for _, r := range sv.Results {
			for _, x := range []*result{r.Off, r.On} {
				if x != nil && x.Error == "" {
					maxR = math.Max(maxR, x.MsgsPerSec)
				}
			}
		}
	}
	if maxR <= 0 {
		maxR = 1
	}
	// Room on the right of the longest bar for its labels.
	scale := barMaxW * 0.8 / maxR
	plotH := groupH * float64(len(c.Servers))
	step := niceStep(maxR / 6)
	for v := 0.0; v <= maxR*1.0001; v += step {
		gx := x0 + v*scale
		s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`, gx, top-8, gx, top+plotH)
		s.text(gx, top+plotH+16, 12, "middle", `fill="#444"`, rateLabel(v))
	}
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`, x0, top-8, x0, top+plotH)
	for i, sv := range c.Servers {
		gy := top + float64(i)*groupH
		attrs := `fill="#222"`
		stroke := ""
		if sv.Libws {
			attrs += ` font-weight="bold"`
			stroke = ` stroke="#222" stroke-width="1.2"`
		}
		name := sv.Label
		if sv.Status != "ok" {
			name += " (n/a)"
		}
		s.text(left, gy+14, 13, "start", attrs, name)
		if sv.Status != "ok" {
			continue
		}
		for j, sc := range c.Scenarios {
			r := sv.Results[sc.ID]
			for k, mode := range []string{"off", "on"} {
				by := gy + 20 + float64(2*j+k)*barH
				var x *result
				if r != nil {
					x = r.Off
					if k == 1 {
						x = r.On
					}
				}
				lbl := fmt.Sprintf("%d conns, %s", sc.Conns, mode)
				s.text(x0-10, by+barH-3, 11, "end", `fill="#555"`, lbl)
				switch {
				case x == nil:
					s.text(x0+6, by+barH-3, 10, "start", `fill="#999"`, "n/a")
				case x.Error != "" || x.MsgsPerSec <= 0:
					s.text(x0+6, by+barH-3, 10, "start", `fill="#c00" font-weight="bold"`, "FAILED")
				default:
					bw := math.Max(x.MsgsPerSec*scale, 1)
					opacity := ""
					if k == 0 {
						opacity = ` fill-opacity="0.35"`
					}
					s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"%s%s><title>%s, %s, deflate %s: %.0f msgs/s</title></rect>`,
						x0, by+1, bw, barH-2, colors[sv.Name], opacity, stroke, esc(sv.Label), esc(sc.Label), mode, x.MsgsPerSec)
					txt := rateLabel(x.MsgsPerSec)
					if x.LoadgenSaturated {
						txt += " !"
					}
					if x.Disturbed != "" {
						txt += " ?"
					}
					if k == 1 && r.OnOff > 0 {
						if r.Deflate {
							txt += fmt.Sprintf("  (%.2f× off; size %.2f of the payload)", r.OnOff, r.WireRatio)
						} else {
							txt += "  (server declined permessage-deflate)"
						}
					}
					s.text(x0+bw+6, by+barH-3, 11, "start", attrs, txt)
				}
			}
		}
	}
	s.text(x0+barMaxW/2, top+plotH+40, 13, "middle", `fill="#333"`,
		"messages/s; size: bytes on the wire over payload bytes, both directions (bench/loadgen -json-payload, with and without -deflate)")
}

// drawTLS draws panel 4: for each server and TLS scenario, msgs/s over
// wss:// (linear scale) with the server's CPU time per message, and the
// server's bytes per idle TLS connection on its name row.
func drawTLS(s *svg, t *tlsSection, colors map[string]string, top, groupH, barH, left, x0, barMaxW float64) {
	s.text(left, top-30, 16, "start", `font-weight="bold" fill="#222"`,
		"TLS 1.3 (wss://): msgs/s, higher is better (linear scale), server CPU per message, and memory per idle TLS connection")
	maxR := 0.0
	for _, sv := range t.Servers {
		for _, r := range sv.Results {
			if r != nil && r.Error == "" {
				maxR = math.Max(maxR, r.MsgsPerSec)
			}
		}
	}
	if maxR <= 0 {
		maxR = 1
	}
	scale := barMaxW * 0.75 / maxR
	plotH := groupH * float64(len(t.Servers))
	step := niceStep(maxR / 6)
	for v := 0.0; v <= maxR*1.0001; v += step {
		gx := x0 + v*scale
		s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`, gx, top-8, gx, top+plotH)
		s.text(gx, top+plotH+16, 12, "middle", `fill="#444"`, rateLabel(v))
	}
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`, x0, top-8, x0, top+plotH)
	for i, sv := range t.Servers {
		gy := top + float64(i)*groupH
		attrs := `fill="#222"`
		stroke := ""
		if sv.Libws {
			attrs += ` font-weight="bold"`
			stroke = ` stroke="#222" stroke-width="1.2"`
		}
		name := sv.Label
		switch {
		case sv.Status != "ok":
			name += " (n/a: " + sv.Note + ")"
		case sv.Idle != nil && sv.Idle.Error == "" && sv.Idle.BytesPerConn > 0:
			name += fmt.Sprintf(" — %s per idle TLS connection", bytesLabel(sv.Idle.BytesPerConn))
		case sv.Idle != nil:
			name += " — idle test FAILED"
		}
		s.text(left, gy+14, 13, "start", attrs, name)
		if sv.Status != "ok" {
			continue
		}
		for j, sc := range t.Scenarios {
			by := gy + 20 + float64(j)*barH
			s.text(x0-10, by+barH-3, 11, "end", `fill="#555"`, fmt.Sprintf("%d conns × %s", sc.Conns, sizeLabel(sc.Size)))
			r := sv.Results[sc.ID]
			switch {
			case r == nil:
				s.text(x0+6, by+barH-3, 10, "start", `fill="#999"`, "n/a")
			case r.Error != "" || r.MsgsPerSec <= 0:
				s.text(x0+6, by+barH-3, 10, "start", `fill="#c00" font-weight="bold"`, "FAILED")
			default:
				bw := math.Max(r.MsgsPerSec*scale, 1)
				s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"%s><title>%s, %s: %.0f msgs/s</title></rect>`,
					x0, by+1, bw, barH-2, colors[sv.Name], stroke, esc(sv.Label), esc(sc.Label), r.MsgsPerSec)
				txt := rateLabel(r.MsgsPerSec)
				if r.LoadgenSaturated {
					txt += " !"
				}
				if r.Disturbed != "" {
					txt += " ?"
				}
				if r.ServerCPUPerMsg > 0 {
					txt += fmt.Sprintf("  (%s µs CPU per message)", usLabel(r.ServerCPUPerMsg))
				}
				s.text(x0+bw+6, by+barH-3, 11, "start", attrs, txt)
			}
		}
	}
	s.text(x0+barMaxW/2, top+plotH+40, 13, "middle", `fill="#333"`,
		"messages/s over wss:// (bench/loadgen, crypto/tls, TLS 1.3; a certificate made for the run)")
}

// usLabel formats microseconds: 0.85, 7.4, 12, 150.
func usLabel(v float64) string {
	switch {
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return trimZero(fmt.Sprintf("%.1f", v))
	default:
		return fmt.Sprintf("%.2g", v)
	}
}

func sizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1024 && n%1024 == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// roundUp125 is the smallest 1, 2 or 5 × 10^k at or above x (x > 0).
func roundUp125(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x*0.9999 {
			return m * p
		}
	}
	return 10 * p
}

// roundDown125 is the largest 1, 2 or 5 × 10^k at or below x (x > 0).
func roundDown125(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{5, 2, 1} {
		if m*p <= x*1.0001 {
			return m * p
		}
	}
	return p
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// drawMain draws panels 1 (msgs/s), 1b (CPU per message) and 2 (bytes per
// idle connection) of the main section.
func drawMain(s *svg, rep *report, colors map[string]string, tlsIdle map[string]*idle, hasCPU bool, legendH float64, peerRows int, topC, top2, plot2H, rowH float64) {
	servers := rep.Servers
	// ---------------------------------------------------------- panel 1
	plotW := width - left - right
	anySat, anyFail, anyDist := s.grouped(rep.Scenarios, servers, colors, left, top1, plotW, plot1H, groupedPanel{
		title: "Throughput: messages echoed per second, higher is better (log scale)",
		axis:  "messages/s (log scale)",
		value: func(r *result) float64 { return r.MsgsPerSec },
		label: rateLabel,
		unit:  "msgs/s",
	})
	bottom1 := top1 + plot1H

	// Legend: libws servers, then peers.
	ly := bottom1 + 62
	legendRow := func(x, y float64, sv *server) {
		stroke := ""
		if sv.Libws {
			stroke = ` stroke="#222" stroke-width="1.2"`
		}
		s.f(`<rect x="%.1f" y="%.1f" width="16" height="12" fill="%s"%s/>`, x, y-10, colors[sv.Name], stroke)
		lbl := sv.Label
		if sv.Status != "ok" {
			lbl += " (n/a)"
		}
		attrs := `fill="#222"`
		if sv.Libws {
			attrs += ` font-weight="bold"`
		}
		s.text(x+22, y, 13, "start", attrs, lbl)
	}
	s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#fdf0e0"/>`, left-6, ly-16, plotW+12, 42.0)
	s.text(left, ly, 13, "start", `font-weight="bold" fill="#222"`, "libws:")
	s.text(left, ly+48, 13, "start", `font-weight="bold" fill="#222"`, "peers:")
	colW := (plotW - 60) / 3
	var li, pi int
	for _, sv := range servers {
		if sv.Libws {
			legendRow(left+60+float64(li%3)*colW, ly+float64(li/3)*20, sv)
			li++
		} else {
			legendRow(left+60+float64(pi%3)*colW, ly+48+float64(pi/3)*20, sv)
			pi++
		}
	}
	notes := []string{}
	if anySat {
		notes = append(notes, "red \"!\": loadgen saturated its core (> 0.95), so the server may do more than shown")
	}
	if anyDist {
		notes = append(notes, "\"?\": disturbed by other work on the machine in every attempt (low confidence)")
	}
	if anyFail {
		notes = append(notes, "FAILED: loadgen reported an error (see latest.json)")
	}
	notes = append(notes, "n/a: not available on this machine")
	s.text(left, ly+56+20*float64(peerRows), 12, "start", `fill="#555"`, strings.Join(notes, "; ")+".")

	// ---------------------------------------------------------- panel 1b
	if hasCPU {
		s.grouped(rep.Scenarios, servers, colors, left, topC, plotW, 300, groupedPanel{
			title: "Server CPU time per echoed message, µs, lower is better (log scale; where red \"!\" above, this ranks the servers)",
			axis:  "µs of server CPU per message (log scale)",
			value: func(r *result) float64 { return r.ServerCPUPerMsg },
			label: usLabel,
			unit:  "µs per message",
		})
	}

	// ---------------------------------------------------------- panel 2
	idleConns := 0
	maxB := 0.0
	for _, sv := range servers {
		for _, id := range []*idle{sv.Idle, tlsIdle[sv.Name]} {
			if id != nil && id.Error == "" {
				maxB = math.Max(maxB, id.BytesPerConn)
				idleConns = max(idleConns, id.Conns)
			}
		}
	}
	if idleConns == 0 {
		if v, ok := rep.Method["idle_conns"].(float64); ok {
			idleConns = int(v)
		}
	}
	memTitle := fmt.Sprintf("Memory: bytes of server RSS per idle connection, lower is better (linear scale; (RSS with %d idle connections − RSS before) / %d)", idleConns, idleConns)
	if len(tlsIdle) > 0 {
		memTitle = fmt.Sprintf("Memory: server RSS per idle connection, plain (solid) and TLS (pale), lower is better (linear; (RSS with %d idle − RSS before) / %d)", idleConns, idleConns)
	}
	s.text(left, top2-30, 16, "start", `font-weight="bold" fill="#222"`, memTitle)
	labelW := 300.0
	x0 := left + labelW
	barMaxW := width - right - x0 - 90
	if maxB <= 0 {
		maxB = 1
	}
	// Room right of the longest bar for its label (" over TLS" is longer).
	memW := barMaxW
	if len(tlsIdle) > 0 {
		memW -= 70
	}
	// Ticks: a round step giving about 6 of them, in KiB past 1 KiB.
	step := niceStep(maxB / 6)
	if maxB/6 >= 1024 {
		step = niceStep(maxB/6/1024) * 1024
	}
	if maxB == 1 { // no data
		step = 2
	}
	for v := 0.0; v <= maxB*1.0001; v += step {
		gx := x0 + v/maxB*memW
		s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`, gx, top2-8, gx, top2+plot2H)
		s.text(gx, top2+plot2H+16, 12, "middle", `fill="#444"`, bytesLabel(v))
	}
	s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`, x0, top2-8, x0, top2+plot2H)
	for i, sv := range servers {
		ry := top2 + float64(i)*rowH
		attrs := `fill="#222"`
		if sv.Libws {
			attrs += ` font-weight="bold"`
		}
		s.text(x0-10, ry+16, 13, "end", attrs, sv.Label)
		stroke := ""
		if sv.Libws {
			stroke = ` stroke="#222" stroke-width="1.2"`
		}
		// bar draws one idle result at y, h high; opacity "" for solid.
		bar := func(id *idle, y, h float64, opacity, suffix string) {
			switch {
			case id == nil:
				s.text(x0+6, y+h-4, 12, "start", `fill="#999"`, "n/a"+suffix)
			case id.Error != "":
				s.text(x0+6, y+h-4, 12, "start", `fill="#c00" font-weight="bold"`, "FAILED"+suffix)
			default:
				bw := math.Max(id.BytesPerConn/maxB*memW, 1)
				s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"%s%s/>`, x0, y, bw, h, colors[sv.Name], opacity, stroke)
				s.text(x0+bw+6, y+h-3, 12, "start", attrs, bytesLabel(id.BytesPerConn)+suffix)
			}
		}
		var plain *idle
		if sv.Status == "ok" {
			plain = sv.Idle
		}
		if len(tlsIdle) == 0 {
			bar(plain, ry+3, rowH-6, "", "")
			continue
		}
		bar(plain, ry+3, 15, "", "")
		if id := tlsIdle[sv.Name]; id != nil {
			bar(id, ry+20, 12, ` fill-opacity="0.45"`, " over TLS")
		}
	}
	s.text(x0+barMaxW/2, top2+plot2H+40, 13, "middle", `fill="#333"`, "bytes per idle connection")
}
