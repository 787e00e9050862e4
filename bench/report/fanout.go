package main

// The fan-out section (bench/fanout/run.sh's raw output in RAW/fanout/):
// N subscribers and one publisher, every delivery checked; per server and
// scenario deliveries/s, deliveries per server CPU-second and delivery
// latency, the libws servers' ratios to the best peer of any language
// (issue #19's goal: at least 3× in deliveries per server CPU-second), and
// the scale-out figure (the C hub as one process vs two joined by Redis).

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FanoutGoal is the ratio of deliveries per server CPU-second that each
// libws server should reach against the best peer in every scenario.
const FanoutGoal = 3.0

// FanoutScenario is one fan-out configuration.
type FanoutScenario struct {
	ID          string `json:"id"`
	Label       string `json:"label"`
	Subscribers int    `json:"subscribers"`
	Size        int    `json:"size"`
	// Deflate: loadgen offered permessage-deflate (no context takeover).
	Deflate bool `json:"deflate"`
}

// FanoutRatio is a libws server against the best peer (any language) in
// one scenario.
type FanoutRatio struct {
	Scenario string `json:"scenario"`
	// CPURatio is deliveries per server CPU-second over the best peer's
	// (> 1: libws spends less per delivery); the figure of the goal.
	CPURatio    float64 `json:"cpu_ratio,omitempty"`
	CPUBestPeer string  `json:"cpu_best_peer,omitempty"`
	// RateRatio is deliveries/s over the fastest peer's.
	RateRatio   float64 `json:"rate_ratio,omitempty"`
	FastestPeer string  `json:"fastest_peer,omitempty"`
	// P99Ratio is p99 delivery latency over the lowest p99 of the peers
	// (< 1: libws delivers sooner).
	P99Ratio    float64 `json:"p99_ratio,omitempty"`
	P99BestPeer string  `json:"p99_best_peer,omitempty"`
	// LoadgenBound: loadgen saturated its core for libws or the fastest
	// peer: deliveries/s is a lower bound, deliveries per CPU-second ranks.
	LoadgenBound bool `json:"loadgen_bound,omitempty"`
}

// FanoutRatios is one libws server's fan-out ratios.
type FanoutRatios struct {
	Server   string        `json:"server"`
	Language string        `json:"language"`
	Ratios   []FanoutRatio `json:"ratios"`
	// MinCPURatio is the lowest CPURatio over the scenarios, and GoalMet
	// whether it reaches FanoutGoal in every scenario measured.
	MinCPURatio float64 `json:"min_cpu_ratio,omitempty"`
	GoalMet     bool    `json:"goal_met"`
}

// ScaleRatio compares two processes + Redis with one process.
type ScaleRatio struct {
	Scenario string `json:"scenario"`
	// RateRatio: total deliveries/s of two over one; P99Ratio: p99
	// delivery latency of two over one; CPURatio: deliveries per CPU-second
	// (both hubs and Redis) of two over one.
	RateRatio float64 `json:"rate_ratio,omitempty"`
	P99Ratio  float64 `json:"p99_ratio,omitempty"`
	CPURatio  float64 `json:"cpu_ratio,omitempty"`
}

// ScaleOut is the scale-out figure.
type ScaleOut struct {
	Method    string             `json:"method"`
	Server    string             `json:"server"`
	Redis     string             `json:"redis,omitempty"`
	Pinning   string             `json:"pinning,omitempty"`
	Status    string             `json:"status"`
	Note      string             `json:"note,omitempty"`
	Scenarios []FanoutScenario   `json:"scenarios"`
	One       map[string]*Result `json:"one_process,omitempty"`
	Two       map[string]*Result `json:"two_processes,omitempty"`
	Ratios    []ScaleRatio       `json:"ratios,omitempty"`
}

// Fanout is the fan-out section of latest.json.
type Fanout struct {
	Method    string           `json:"method"`
	Inflight  int              `json:"inflight"`
	WarmupS   float64          `json:"warmup_s"`
	DurationS float64          `json:"duration_s"`
	Runs      int              `json:"runs"`
	Pinning   string           `json:"pinning,omitempty"`
	WallS     float64          `json:"wall_s,omitempty"`
	Goal      string           `json:"goal"`
	Scenarios []FanoutScenario `json:"scenarios"`
	Servers   []*Server        `json:"servers"`
	Ratios    []FanoutRatios   `json:"ratios"`
	ScaleOut  *ScaleOut        `json:"scale_out,omitempty"`
}

// readFanoutScenarios reads a scenarios.txt: id|subscribers|size|deflate.
func readFanoutScenarios(path string) []FanoutScenario {
	scs := []FanoutScenario{}
	for _, l := range lines(path) {
		f := strings.Split(l, "|")
		if len(f) != 4 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		size, _ := strconv.Atoi(f[2])
		sc := FanoutScenario{ID: f[0], Subscribers: n, Size: size, Deflate: f[3] == "1"}
		sc.Label = fmt.Sprintf("%d subscribers × %s", n, sizeStr(size))
		if sc.Deflate {
			sc.Label += ", permessage-deflate"
		}
		scs = append(scs, sc)
	}
	return scs
}

func sizeStr(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// loadFanoutResult is loadResult plus what only fan-out runs report.
func loadFanoutResult(dir, id string, deflate bool) *Result {
	r := loadResult(dir, id)
	if r == nil || r.Error != "" {
		return r
	}
	var lg struct {
		PerCPUSec float64 `json:"deliveries_per_cpu_sec"`
		Deflate   *bool   `json:"deflate"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, id+".json"))
	if json.Unmarshal(b, &lg) == nil {
		r.DeliveriesPerCPUSec = math.Round(lg.PerCPUSec)
		if deflate && (lg.Deflate == nil || !*lg.Deflate) {
			r.Note = strings.TrimPrefix(r.Note+"; the server declined permessage-deflate", "; ")
		}
	}
	return r
}

// loadFanout reads RAW/fanout, or returns nil when the run had no fan-out
// section.
func loadFanout(raw string) *Fanout {
	meta, err := readKV(filepath.Join(raw, "meta.txt"))
	if err != nil {
		return nil
	}
	inflight, _ := strconv.Atoi(meta["inflight"])
	runs, _ := strconv.Atoi(meta["runs"])
	f := &Fanout{
		Method: "bench/loadgen -fanout N: N subscriber connections and one publisher to a server that relays each text message to all its connections; " +
			"each message carries its sequence number and send time, every delivery is checked (contents, no loss, no duplicate, in order); " +
			"deliveries/s: messages × subscribers reached per second; latency: publisher's write to a subscriber's read; " +
			"deliveries per server CPU-second: deliveries over the server's utime + stime (/proc/PID/stat) in the windows; " +
			"deflate: loadgen offers permessage-deflate without context takeover, each server set up for it as its library is meant to be; median over the runs",
		Inflight: inflight, WarmupS: atof(meta["warmup_s"]), DurationS: atof(meta["duration_s"]), Runs: runs,
		Pinning: meta["pinning"], WallS: atof(meta["wall_s"]),
		Goal:      fmt.Sprintf("each libws server (C, Python, Node) at least %.0f× the best peer in deliveries per server CPU-second, in every scenario", FanoutGoal),
		Scenarios: readFanoutScenarios(filepath.Join(raw, "scenarios.txt")),
		Servers:   []*Server{},
	}
	serverList(raw, func(info ServerInfo, dir string) {
		s := &Server{ServerInfo: info}
		if s.Status == "ok" {
			s.Results = map[string]*Result{}
			for _, sc := range f.Scenarios {
				if r := loadFanoutResult(dir, sc.ID, sc.Deflate); r != nil {
					s.Results[sc.ID] = r
				}
			}
		}
		f.Servers = append(f.Servers, s)
	})
	f.Ratios = fanoutRatios(f.Servers, f.Scenarios)
	f.ScaleOut = loadScaleOut(filepath.Join(raw, "scaleout"))
	return f
}

func loadScaleOut(dir string) *ScaleOut {
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	meta, _ := readKV(filepath.Join(dir, "meta.txt"))
	so := &ScaleOut{
		Method: "the libws C hub (bench/fanout/libws_fanout.c) as one process without a broker, and as two processes joined by a redis-server " +
			"started for the run (WS_OPT_HUB_BROKER): subscribers split between the two (loadgen -sub-urls), the publisher on the first; " +
			"every delivery checked; server CPU is both hubs' and Redis's together",
		Server: meta["server"], Redis: meta["redis"], Pinning: meta["pinning"],
		Scenarios: readFanoutScenarios(filepath.Join(dir, "scenarios.txt")),
	}
	so.Status, so.Note = status(dir)
	if so.Status != "ok" {
		return so
	}
	so.One, so.Two = map[string]*Result{}, map[string]*Result{}
	for _, sc := range so.Scenarios {
		one, two := loadFanoutResult(dir, "one-"+sc.ID, false), loadFanoutResult(dir, "two-"+sc.ID, false)
		if one != nil {
			so.One[sc.ID] = one
		}
		if two != nil {
			so.Two[sc.ID] = two
		}
		if good(one) && good(two) {
			sr := ScaleRatio{Scenario: sc.ID, RateRatio: round4(two.MsgsPerSec / one.MsgsPerSec)}
			if one.P99us > 0 {
				sr.P99Ratio = round4(two.P99us / one.P99us)
			}
			if one.DeliveriesPerCPUSec > 0 {
				sr.CPURatio = round4(two.DeliveriesPerCPUSec / one.DeliveriesPerCPUSec)
			}
			so.Ratios = append(so.Ratios, sr)
		}
	}
	return so
}

func good(r *Result) bool { return r != nil && r.Error == "" && r.MsgsPerSec > 0 }

func round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }

// fanoutRatios ranks each libws server against the peers of every
// language: the goal compares with the fastest peer, whatever its
// language.
func fanoutRatios(servers []*Server, scs []FanoutScenario) []FanoutRatios {
	out := []FanoutRatios{}
	for _, s := range servers {
		if !s.Libws || s.Status != "ok" {
			continue
		}
		rs := FanoutRatios{Server: s.Name, Language: s.Language, Ratios: []FanoutRatio{}, GoalMet: true}
		for _, sc := range scs {
			r := s.Results[sc.ID]
			if !good(r) {
				continue
			}
			fr := FanoutRatio{Scenario: sc.ID}
			var cpuBest, rateBest, p99Best *Result
			for _, p := range servers {
				pr := p.Results[sc.ID]
				if p.Libws || p.Status != "ok" || !good(pr) {
					continue
				}
				if pr.DeliveriesPerCPUSec > 0 && (cpuBest == nil || pr.DeliveriesPerCPUSec > cpuBest.DeliveriesPerCPUSec) {
					cpuBest, fr.CPUBestPeer = pr, p.Name
				}
				if rateBest == nil || pr.MsgsPerSec > rateBest.MsgsPerSec {
					rateBest, fr.FastestPeer = pr, p.Name
				}
				if pr.P99us > 0 && (p99Best == nil || pr.P99us < p99Best.P99us) {
					p99Best, fr.P99BestPeer = pr, p.Name
				}
			}
			if rateBest == nil {
				continue
			}
			fr.RateRatio = round4(r.MsgsPerSec / rateBest.MsgsPerSec)
			fr.LoadgenBound = r.LoadgenSaturated || rateBest.LoadgenSaturated
			if cpuBest != nil && r.DeliveriesPerCPUSec > 0 {
				fr.CPURatio = round4(r.DeliveriesPerCPUSec / cpuBest.DeliveriesPerCPUSec)
				if rs.MinCPURatio == 0 || fr.CPURatio < rs.MinCPURatio {
					rs.MinCPURatio = fr.CPURatio
				}
				rs.GoalMet = rs.GoalMet && fr.CPURatio >= FanoutGoal
			} else {
				fr.CPUBestPeer = ""
			}
			if p99Best != nil && r.P99us > 0 {
				fr.P99Ratio = round4(r.P99us / p99Best.P99us)
			} else {
				fr.P99BestPeer = ""
			}
			rs.Ratios = append(rs.Ratios, fr)
		}
		rs.GoalMet = rs.GoalMet && rs.MinCPURatio > 0 && len(rs.Ratios) == len(scs)
		out = append(out, rs)
	}
	return out
}

// fanoutShort is a scenario's column title: "10k×1KiB", "+z" for deflate.
func fanoutShort(sc FanoutScenario) string {
	n := strconv.Itoa(sc.Subscribers)
	if sc.Subscribers >= 1000 && sc.Subscribers%1000 == 0 {
		n = strconv.Itoa(sc.Subscribers/1000) + "k"
	}
	s := n + "×" + strings.ReplaceAll(sizeStr(sc.Size), " ", "")
	if sc.Deflate {
		s += "+z"
	}
	return s
}

// printFanout prints the fan-out tables, the ratios and the scale-out
// figure.
func printFanout(w io.Writer, f *Fanout) {
	nameW := len("server")
	for _, s := range f.Servers {
		nameW = max(nameW, len([]rune(s.Label))+2)
	}
	const colW = 12
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Fan-out: N subscribers + 1 publisher, %d messages in flight, every delivery checked; median of %d runs of %gs after %gs warm-up\n",
		f.Inflight, f.Runs, f.DurationS, f.WarmupS)
	fmt.Fprintln(w, "(columns: subscribers × message size, +z = permessage-deflate offered; * = libws; ! = loadgen saturated its core: deliveries/s is a lower bound)")
	table := func(title string, cell func(r *Result) string) {
		fmt.Fprintln(w)
		fmt.Fprintln(w, title)
		fmt.Fprint(w, padLeft("server", nameW))
		for _, sc := range f.Scenarios {
			fmt.Fprint(w, pad(fanoutShort(sc), colW))
		}
		fmt.Fprintln(w)
		for _, s := range f.Servers {
			if !rowHead(w, nameW, s.Label, s.Libws, s.Status, s.Note) {
				continue
			}
			for _, sc := range f.Scenarios {
				c := "-"
				if r := s.Results[sc.ID]; r != nil && r.Error != "" {
					c = "FAIL"
				} else if good(r) {
					c = cell(r)
				}
				fmt.Fprint(w, pad(c, colW))
			}
			fmt.Fprintln(w)
		}
	}
	table("Deliveries per server CPU-second (higher is better; the goal's figure)", func(r *Result) string {
		if r.DeliveriesPerCPUSec <= 0 {
			return "-"
		}
		return rate(r.DeliveriesPerCPUSec)
	})
	table("Deliveries/s", func(r *Result) string {
		c := rate(r.MsgsPerSec)
		if r.LoadgenSaturated {
			c += "!"
		}
		return c
	})
	table("Delivery latency p99 (p50 in latest.json)", func(r *Result) string { return dur(r.P99us) })

	fmt.Fprintln(w)
	fmt.Fprintf(w, "libws vs the best peer of any language: deliveries per server CPU-second ratio (goal ≥ %.0f×) and its peer; then deliveries/s ratio\n", FanoutGoal)
	fmt.Fprint(w, padLeft("libws server", nameW))
	for _, sc := range f.Scenarios {
		fmt.Fprint(w, pad(fanoutShort(sc), colW+6))
	}
	fmt.Fprintln(w, pad("goal", 9))
	for _, rs := range f.Ratios {
		label := rs.Server
		for _, s := range f.Servers {
			if s.Name == rs.Server {
				label = s.Label
			}
		}
		for row := range 2 {
			name := "  " + label
			if row == 1 {
				name = "    deliveries/s"
			}
			fmt.Fprint(w, padLeft(name, nameW))
			for _, sc := range f.Scenarios {
				c := "-"
				for _, r := range rs.Ratios {
					switch {
					case r.Scenario != sc.ID:
					case row == 0 && r.CPUBestPeer != "":
						c = fmt.Sprintf("%.2f× %s", r.CPURatio, shortName(r.CPUBestPeer))
					case row == 1:
						bound := ""
						if r.LoadgenBound {
							bound = "!"
						}
						c = fmt.Sprintf("%.2f×%s %s", r.RateRatio, bound, shortName(r.FastestPeer))
					}
				}
				fmt.Fprint(w, pad(c, colW+6))
			}
			if row == 0 {
				goal := "not met"
				if rs.GoalMet {
					goal = "met"
				}
				fmt.Fprint(w, pad(goal, 9))
			}
			fmt.Fprintln(w)
		}
	}
	if so := f.ScaleOut; so != nil {
		fmt.Fprintln(w)
		if so.Status != "ok" {
			fmt.Fprintf(w, "Scale-out: n/a (%s)\n", so.Note)
			return
		}
		fmt.Fprintf(w, "Scale-out: libws C hub, one process vs two joined by Redis %s (%s)\n", so.Redis, so.Pinning)
		fmt.Fprintf(w, "%-22s %14s %10s %16s %10s %10s %10s\n", "scenario", "1 proc del/s", "p99", "2 procs del/s", "p99", "del/s 2:1", "p99 2:1")
		for _, sc := range so.Scenarios {
			cells := []string{"-", "-", "-", "-", "-", "-"}
			for i, r := range []*Result{so.One[sc.ID], so.Two[sc.ID]} {
				if r != nil && r.Error != "" {
					cells[2*i] = "FAIL"
				} else if good(r) {
					cells[2*i], cells[2*i+1] = rate(r.MsgsPerSec), dur(r.P99us)
					if r.LoadgenSaturated {
						cells[2*i] += "!"
					}
				}
			}
			for _, sr := range so.Ratios {
				if sr.Scenario == sc.ID {
					cells[4], cells[5] = fmt.Sprintf("%.2f×", sr.RateRatio), fmt.Sprintf("%.2f×", sr.P99Ratio)
				}
			}
			fmt.Fprintf(w, "%-22s %14s %10s %16s %10s %10s %10s\n", fanoutShort(sc), cells[0], cells[1], cells[2], cells[3], cells[4], cells[5])
		}
	}
}

// fanoutNotes lists what went wrong in the fan-out section.
func fanoutNotes(f *Fanout) []string {
	scs := make([]Scenario, len(f.Scenarios))
	for i, sc := range f.Scenarios {
		scs[i] = Scenario{ID: sc.ID}
	}
	notes := serverNotes("fan-out, ", f.Servers, scs)
	if so := f.ScaleOut; so != nil && so.Status == "ok" {
		for _, sc := range so.Scenarios {
			for _, x := range []struct {
				what string
				r    *Result
			}{{"one process", so.One[sc.ID]}, {"two processes", so.Two[sc.ID]}} {
				switch {
				case x.r == nil:
					notes = append(notes, fmt.Sprintf("scale-out, %s, %s: not run", x.what, sc.ID))
				case x.r.Error != "":
					notes = append(notes, fmt.Sprintf("scale-out, %s, %s: %s", x.what, sc.ID, x.r.Error))
				}
			}
		}
	}
	return notes
}
