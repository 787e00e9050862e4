package main

import (
	"math"
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
