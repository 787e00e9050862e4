package main

// The fan-out panel: deliveries per server CPU-second, deliveries/s and
// p99 delivery latency per server, grouped by scenario (subscribers ×
// size, deflate or not), the libws servers' ratios to the best peer, and
// the scale-out figure (one process vs two joined by Redis).

import (
	"fmt"
	"math"
	"strings"
)

type fanoutScenario struct {
	ID          string `json:"id"`
	Label       string `json:"label"`
	Subscribers int    `json:"subscribers"`
	Size        int    `json:"size"`
	Deflate     bool   `json:"deflate"`
}

type fanoutRatio struct {
	Scenario    string  `json:"scenario"`
	CPURatio    float64 `json:"cpu_ratio"`
	CPUBestPeer string  `json:"cpu_best_peer"`
	RateRatio   float64 `json:"rate_ratio"`
	FastestPeer string  `json:"fastest_peer"`
}

type fanoutRatios struct {
	Server      string        `json:"server"`
	Ratios      []fanoutRatio `json:"ratios"`
	MinCPURatio float64       `json:"min_cpu_ratio"`
	GoalMet     bool          `json:"goal_met"`
}

type scaleRatio struct {
	Scenario  string  `json:"scenario"`
	RateRatio float64 `json:"rate_ratio"`
	P99Ratio  float64 `json:"p99_ratio"`
}

type scaleOut struct {
	Redis     string             `json:"redis"`
	Pinning   string             `json:"pinning"`
	Status    string             `json:"status"`
	Note      string             `json:"note"`
	Scenarios []fanoutScenario   `json:"scenarios"`
	One       map[string]*result `json:"one_process"`
	Two       map[string]*result `json:"two_processes"`
	Ratios    []scaleRatio       `json:"ratios"`
}

type fanout struct {
	Inflight  int              `json:"inflight"`
	WarmupS   float64          `json:"warmup_s"`
	DurationS float64          `json:"duration_s"`
	Runs      int              `json:"runs"`
	Scenarios []fanoutScenario `json:"scenarios"`
	Servers   []*server        `json:"servers"`
	Ratios    []fanoutRatios   `json:"ratios"`
	ScaleOut  *scaleOut        `json:"scale_out"`
}

// Fan-out panel geometry.
const (
	fanPlotH   = 260.0 // each of the three bar plots
	fanPlotGap = 110.0 // title above, group labels below
	fanBarH    = 16.0  // scale-out bars
)

func fanoutShort(sc fanoutScenario) string {
	n := fmt.Sprint(sc.Subscribers)
	if sc.Subscribers >= 1000 && sc.Subscribers%1000 == 0 {
		n = fmt.Sprintf("%dk", sc.Subscribers/1000)
	}
	s := n + " × " + sizeLabel(sc.Size)
	if sc.Deflate {
		s += ", deflate"
	}
	return s
}

// ratiosPerLine: a libws server's ratios are listed this many to a line.
const ratiosPerLine = 4

// ratioLines is how many lines a libws server's ratios take at most.
func ratioLines(f *fanout) int { return max(1, (len(f.Scenarios)+ratiosPerLine-1)/ratiosPerLine) }

// fanoutHeight is the height drawFanout takes.
func fanoutHeight(f *fanout) float64 {
	legendRows := (len(f.Servers) + 2) / 3
	h := 40 + 20*float64(legendRows) + 20 // title, legend
	h += 3 * (fanPlotH + fanPlotGap)
	h += 30 + float64(len(f.Ratios))*(20+16*float64(ratioLines(f))) + 20 // ratio lines
	if so := f.ScaleOut; so != nil {
		h += 50
		if so.Status == "ok" {
			h += float64(len(so.Scenarios))*(2*fanBarH+12) + 40
		}
	}
	return h
}

// drawFanout draws the fan-out panel from top; colours by server name.
func drawFanout(s *svg, f *fanout, colors map[string]string, top, left, plotW float64) {
	s.text(left, top, 16, "start", `font-weight="bold" fill="#222"`,
		fmt.Sprintf("Fan-out: N subscribers + 1 publisher, %d messages in flight, every delivery checked (median of %d runs of %gs after %gs warm-up)",
			f.Inflight, f.Runs, f.DurationS, f.WarmupS))
	// Legend: this section's servers, three to a row.
	colW := plotW / 3
	for i, sv := range f.Servers {
		x, y := left+float64(i%3)*colW, top+28+float64(i/3)*20
		stroke, attrs := "", `fill="#222"`
		if sv.Libws {
			stroke, attrs = ` stroke="#222" stroke-width="1.2"`, `fill="#222" font-weight="bold"`
		}
		s.f(`<rect x="%.1f" y="%.1f" width="16" height="12" fill="%s"%s/>`, x, y-10, colors[sv.Name], stroke)
		lbl := sv.Label
		if sv.Status != "ok" {
			lbl += " (n/a)"
		}
		s.text(x+22, y, 13, "start", attrs, lbl)
	}
	y := top + 40 + 20*float64((len(f.Servers)+2)/3) + 20
	scs := make([]scenario, len(f.Scenarios))
	byID := map[string]fanoutScenario{}
	for i, sc := range f.Scenarios {
		scs[i] = scenario{ID: sc.ID, Label: sc.Label, Conns: sc.Subscribers, Size: sc.Size}
		byID[sc.ID] = sc
	}
	group := func(sc scenario) (string, string) {
		fs := byID[sc.ID]
		second := "deflate off"
		if fs.Deflate {
			second = "deflate offered"
		}
		n := fmt.Sprint(fs.Subscribers)
		if fs.Subscribers >= 1000 && fs.Subscribers%1000 == 0 {
			n = fmt.Sprintf("%dk", fs.Subscribers/1000)
		}
		return fmt.Sprintf("%s subs × %s", n, sizeLabel(fs.Size)), second
	}
	for _, p := range []groupedPanel{
		{
			title: "Fan-out: deliveries per server CPU-second, higher is better (log scale; the goal: libws ≥ 3× the best peer)",
			axis:  "deliveries per CPU-second", value: func(r *result) float64 { return r.PerCPUSec },
			label: rateLabel, unit: "deliveries per CPU-second",
		},
		{
			title: "Fan-out: deliveries per second (one message reaching one subscriber), higher is better (log scale)",
			axis:  "deliveries/s", value: func(r *result) float64 { return r.MsgsPerSec },
			label: rateLabel, unit: "deliveries/s",
		},
		{
			title: "Fan-out: p99 delivery latency (publisher's write to a subscriber's read), lower is better (log scale)",
			axis:  "p99 delivery latency", value: func(r *result) float64 { return r.P99us },
			label: latencyLabel, unit: "p99",
		},
	} {
		p.group = group
		s.grouped(scs, f.Servers, colors, left, y+30, plotW, fanPlotH, p)
		y += fanPlotH + fanPlotGap
	}

	// Ratios: one line per libws server.
	s.text(left, y, 14, "start", `font-weight="bold" fill="#222"`,
		"libws vs the best peer of any language in deliveries per server CPU-second (and in deliveries/s), per scenario")
	y += 22
	label := map[string]string{}
	for _, sv := range f.Servers {
		label[sv.Name] = sv.Label
	}
	for _, rs := range f.Ratios {
		parts := []string{}
		for _, r := range rs.Ratios {
			if r.CPUBestPeer == "" {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s: %.1f× %s (%.1f×/s)", fanoutShort(byID[r.Scenario]), r.CPURatio, r.CPUBestPeer, r.RateRatio))
		}
		goal := "goal not met"
		if rs.GoalMet {
			goal = "goal met"
		}
		attrs := `fill="#8c1d40" font-weight="bold"`
		if !rs.GoalMet {
			attrs = `fill="#444" font-weight="bold"`
		}
		s.f(`<rect x="%.1f" y="%.1f" width="12" height="10" fill="%s" stroke="#222" stroke-width="1"/>`, left, y-9, colors[rs.Server])
		s.text(left+18, y, 12, "start", attrs, fmt.Sprintf("%s — %s", label[rs.Server], goal))
		for i := 0; i < len(parts); i += ratiosPerLine {
			s.text(left+18, y+16*float64(1+i/ratiosPerLine), 11, "start", `fill="#333"`, strings.Join(parts[i:min(i+ratiosPerLine, len(parts))], "; "))
		}
		y += 20 + 16*float64(ratioLines(f))
	}
	y += 20
	if so := f.ScaleOut; so != nil {
		drawScaleOut(s, so, colors, y+30, left, plotW)
	}
}

// drawScaleOut draws, per scenario, total deliveries/s of one process and
// of two joined by Redis (linear scale), with p99 and the ratios.
func drawScaleOut(s *svg, so *scaleOut, colors map[string]string, top, left, plotW float64) {
	if so.Status != "ok" {
		s.text(left, top-10, 14, "start", `font-weight="bold" fill="#222"`, "Scale-out: n/a ("+so.Note+")")
		return
	}
	s.text(left, top-10, 14, "start", `font-weight="bold" fill="#222"`,
		"Scale-out: libws C hub, total deliveries/s and p99, one process (pale) vs two processes joined by Redis "+so.Redis+" (solid)")
	s.text(left, top+8, 11, "start", `fill="#555"`, "Pinning: "+so.Pinning)
	top += 22
	x0 := left + 170
	barMaxW := plotW - 170 - 260
	maxR := 0.0
	for _, m := range []map[string]*result{so.One, so.Two} {
		for _, r := range m {
			if r != nil && r.Error == "" {
				maxR = math.Max(maxR, r.MsgsPerSec)
			}
		}
	}
	if maxR <= 0 {
		maxR = 1
	}
	col := colors["libws-c-hub"]
	if col == "" {
		col = libwsColors[0]
	}
	for i, sc := range so.Scenarios {
		gy := top + float64(i)*(2*fanBarH+12)
		s.text(x0-10, gy+fanBarH+4, 12, "end", `fill="#222" font-weight="bold"`, fanoutShort(sc))
		for k, r := range []*result{so.One[sc.ID], so.Two[sc.ID]} {
			by := gy + float64(k)*fanBarH
			what := []string{"1 process", "2 processes + Redis"}[k]
			switch {
			case r == nil:
				s.text(x0+6, by+fanBarH-4, 11, "start", `fill="#999"`, what+": n/a")
			case r.Error != "" || r.MsgsPerSec <= 0:
				s.text(x0+6, by+fanBarH-4, 11, "start", `fill="#c00" font-weight="bold"`, what+": FAILED")
			default:
				bw := math.Max(r.MsgsPerSec/maxR*barMaxW, 1)
				opacity := ""
				if k == 0 {
					opacity = ` fill-opacity="0.4"`
				}
				s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"%s stroke="#222" stroke-width="1"/>`, x0, by+1, bw, fanBarH-2, col, opacity)
				txt := fmt.Sprintf("%s: %s deliveries/s, p99 %s", what, rateLabel(r.MsgsPerSec), latencyLabel(r.P99us))
				if r.LoadgenSaturated {
					txt += " !"
				}
				if k == 1 {
					for _, sr := range so.Ratios {
						if sr.Scenario == sc.ID {
							txt += fmt.Sprintf(" (%.2f× the deliveries/s, %.2f× the p99)", sr.RateRatio, sr.P99Ratio)
						}
					}
				}
				s.text(x0+bw+6, by+fanBarH-4, 11, "start", `fill="#222"`, txt)
			}
		}
	}
}

// latencyLabel formats a latency given in µs: 850 µs, 4.2 ms, 137 ms.
func latencyLabel(us float64) string {
	switch {
	case us >= 1e4:
		return fmt.Sprintf("%.0f ms", us/1e3)
	case us >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", us/1e3)) + " ms"
	default:
		return usLabel(us) + " µs"
	}
}
