package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func srv(name, lang string, libws bool, rate, perMsg float64, saturated bool) *Server {
	return &Server{
		ServerInfo: ServerInfo{Name: name, Language: lang, Libws: libws, Status: "ok"},
		Results: map[string]*Result{"s": {
			MsgsPerSec: rate, ServerCPUPerMsg: perMsg, LoadgenSaturated: saturated,
		}},
	}
}

// The Go engine and the C hub are ranked against their language's peers
// and fastwebsockets; the others against their language's alone. The
// msgs/s ratio is against the fastest peer, the CPU one against the
// leanest, which may be another peer.
func TestRatiosPeersAndCPU(t *testing.T) {
	servers := []*Server{
		srv("libws-go", "go", true, 100, 8, true),
		srv("gobwas", "go", false, 120, 10, false),
		srv("fastwebsockets", "rust", false, 90, 4, true),
		srv("libws-c-hub", "c", true, 200, 6, false),
		srv("lws", "c", false, 100, 12, false),
		srv("libws-node", "node", true, 50, 20, false),
		srv("node-ws", "node", false, 40, 25, false),
		{ServerInfo: ServerInfo{Name: "libws-python", Language: "python", Libws: true, Status: "ok"},
			Results: map[string]*Result{"s": {MsgsPerSec: 10}}}, // no peer, no CPU figure
	}
	scs := []Scenario{{ID: "s"}}
	got := map[string]Ratio{}
	for _, rs := range ratios(servers, scs) {
		for _, r := range rs.Ratios {
			got[rs.Server] = r
		}
		if rs.Server == "libws-python" && len(rs.Ratios) != 0 {
			t.Errorf("libws-python: ratios %v without a peer", rs.Ratios)
		}
	}
	for _, tc := range []struct {
		server, fastest, leanest string
		ratio, cpu               float64
		bound                    bool
	}{
		{"libws-go", "gobwas", "fastwebsockets", 100.0 / 120, 8.0 / 4, true},
		{"libws-c-hub", "lws", "fastwebsockets", 200.0 / 100, 6.0 / 4, false},
		{"libws-node", "node-ws", "node-ws", 50.0 / 40, 20.0 / 25, false},
	} {
		r, found := got[tc.server]
		if !found {
			t.Errorf("%s: no ratio", tc.server)
			continue
		}
		if r.FastestPeer != tc.fastest || r.LeanestPeer != tc.leanest || r.LoadgenBound != tc.bound ||
			math.Abs(r.Ratio-tc.ratio) > 1e-9 || math.Abs(r.CPUPerMsgRatio-tc.cpu) > 1e-9 {
			t.Errorf("%s: got %+v; want fastest %s %.3f, leanest %s %.3f, bound %v",
				tc.server, r, tc.fastest, tc.ratio, tc.leanest, tc.cpu, tc.bound)
		}
	}
}

// Fan-out ratios are against the best peer of any language, one per
// figure (CPU, rate, p99), and the goal holds only when every scenario
// reaches it.
func TestFanoutRatios(t *testing.T) {
	res := func(rate, perCPU, p99 float64) *Result {
		return &Result{MsgsPerSec: rate, DeliveriesPerCPUSec: perCPU, P99us: p99}
	}
	sv := func(name, lang string, libws bool, a, b *Result) *Server {
		return &Server{ServerInfo: ServerInfo{Name: name, Language: lang, Libws: libws, Status: "ok"},
			Results: map[string]*Result{"a": a, "b": b}}
	}
	servers := []*Server{
		sv("libws-c-hub", "c", true, res(900, 4000, 10), res(800, 3100, 30)),
		sv("gws", "go", false, res(300, 1000, 20), res(200, 1000, 40)),
		sv("node-ws", "node", false, res(400, 900, 5), res(100, 500, 50)),
		sv("libws-node", "node", true, res(500, 2000, 8), nil),
		{ServerInfo: ServerInfo{Name: "libws-python", Language: "python", Libws: true, Status: "n/a"}},
	}
	scs := []FanoutScenario{{ID: "a"}, {ID: "b"}}
	got := fanoutRatios(servers, scs)
	if len(got) != 2 {
		t.Fatalf("ratios for %d servers, want 2 (libws-python is n/a): %+v", len(got), got)
	}
	hub, node := got[0], got[1]
	want := []FanoutRatio{
		{Scenario: "a", CPURatio: 4, CPUBestPeer: "gws", RateRatio: 2.25, FastestPeer: "node-ws", P99Ratio: 2, P99BestPeer: "node-ws"},
		{Scenario: "b", CPURatio: 3.1, CPUBestPeer: "gws", RateRatio: 4, FastestPeer: "gws", P99Ratio: 0.75, P99BestPeer: "gws"},
	}
	if hub.Server != "libws-c-hub" || len(hub.Ratios) != 2 || hub.Ratios[0] != want[0] || hub.Ratios[1] != want[1] {
		t.Fatalf("libws-c-hub: %+v, want %+v", hub.Ratios, want)
	}
	if !hub.GoalMet || hub.MinCPURatio != 3.1 {
		t.Errorf("libws-c-hub: goal met %v, min %v; want true, 3.1", hub.GoalMet, hub.MinCPURatio)
	}
	// 2000/1000 = 2 in a, and b not measured: the goal is not met.
	if node.GoalMet || node.MinCPURatio != 2 || len(node.Ratios) != 1 {
		t.Errorf("libws-node: %+v; want goal not met, min 2, one ratio", node)
	}
}

// The fan-out raw layout of bench/fanout/run.sh is read back: scenarios,
// servers, results with deliveries per CPU-second, a declined deflate
// offer noted, and the scale-out ratios.
func TestLoadFanout(t *testing.T) {
	raw := t.TempDir()
	write := func(path, s string) {
		t.Helper()
		full := filepath.Join(raw, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lg := func(rate, perCPU, p99 float64, deflate string) string {
		return fmt.Sprintf(`{"msgs_per_sec":%g,"p50_us":1,"p99_us":%g,"server_cpu_us_per_msg":%g,"deliveries_per_cpu_sec":%g%s,"runs":[{"msgs_per_sec":%g}]}`,
			rate, p99, 1e6/perCPU, perCPU, deflate, rate)
	}
	write("meta.txt", "inflight=8\nruns=2\nwarmup_s=0.3\nduration_s=1\n")
	write("scenarios.txt", "n10-s20|10|20|0\nn10-s20-deflate|10|20|1\n")
	write("servers.txt", "libws-c-hub\tlibws C hub\tc\tlibws\tx\ngws\tgws\tgo\tpeer\tx\nnode-ws\tws\tnode\tpeer\tx\n")
	write("libws-c-hub/status.txt", "ok\n")
	write("libws-c-hub/n10-s20.rc", "0\n")
	write("libws-c-hub/n10-s20.json", lg(1000, 4000, 50, ""))
	write("libws-c-hub/n10-s20-deflate.rc", "0\n")
	write("libws-c-hub/n10-s20-deflate.json", lg(900, 3000, 60, `,"deflate":false`))
	write("gws/status.txt", "ok\n")
	write("gws/n10-s20.rc", "0\n")
	write("gws/n10-s20.json", lg(500, 1000, 100, ""))
	write("gws/n10-s20-deflate.rc", "1\n")
	write("gws/n10-s20-deflate.json", `{"error":"conn 3: message 7 lost: got message 8"}`)
	write("node-ws/status.txt", "n/a: node not installed\n")
	write("scaleout/status.txt", "ok\n")
	write("scaleout/meta.txt", "server=libws-c-hub\nredis=7.0.15\n")
	write("scaleout/scenarios.txt", "n10-s20|10|20|0\n")
	write("scaleout/one-n10-s20.rc", "0\n")
	write("scaleout/one-n10-s20.json", lg(1000, 2000, 100, ""))
	write("scaleout/two-n10-s20.rc", "0\n")
	write("scaleout/two-n10-s20.json", lg(1500, 1000, 300, ""))

	f := loadFanout(raw)
	if f == nil || len(f.Scenarios) != 2 || len(f.Servers) != 3 || f.Inflight != 8 || f.Runs != 2 {
		t.Fatalf("section %+v", f)
	}
	if sc := f.Scenarios[1]; !sc.Deflate || sc.Subscribers != 10 || sc.Size != 20 || !strings.Contains(sc.Label, "deflate") {
		t.Errorf("scenario %+v", sc)
	}
	hub := f.Servers[0].Results
	if r := hub["n10-s20"]; r == nil || r.DeliveriesPerCPUSec != 4000 || r.MsgsPerSec != 1000 || r.P99us != 50 {
		t.Errorf("hub n10-s20: %+v", r)
	}
	if r := hub["n10-s20-deflate"]; r == nil || !strings.Contains(r.Note, "declined") {
		t.Errorf("hub deflate: a declined offer not noted: %+v", r)
	}
	if r := f.Servers[1].Results["n10-s20-deflate"]; r == nil || !strings.Contains(r.Error, "lost") {
		t.Errorf("gws deflate: error not kept: %+v", r)
	}
	if f.Servers[2].Status != "n/a" || f.Servers[2].Note != "node not installed" {
		t.Errorf("node-ws: %+v", f.Servers[2].ServerInfo)
	}
	if len(f.Ratios) != 1 || len(f.Ratios[0].Ratios) != 1 || f.Ratios[0].Ratios[0].CPURatio != 4 || f.Ratios[0].GoalMet {
		t.Errorf("ratios %+v (the deflate scenario has no peer: goal not met)", f.Ratios)
	}
	so := f.ScaleOut
	if so == nil || so.Redis != "7.0.15" || len(so.Ratios) != 1 {
		t.Fatalf("scale-out %+v", so)
	}
	if r := so.Ratios[0]; r.RateRatio != 1.5 || r.P99Ratio != 3 || r.CPURatio != 0.5 {
		t.Errorf("scale-out ratios %+v", r)
	}
	var b strings.Builder
	printFanout(&b, f)
	for _, want := range []string{"Deliveries per server CPU-second", "4.00k", "4.00× gws", "FAIL", "n/a (node not installed)", "Scale-out", "1.50×"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	if notes := fanoutNotes(f); len(notes) == 0 || !strings.Contains(strings.Join(notes, "\n"), "lost") {
		t.Errorf("notes %q lack gws' failure", notes)
	}
}
