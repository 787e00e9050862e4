package main

import (
	"encoding/xml"
	"strings"
	"testing"
)

// A fan-out-only report draws the fan-out panels and none of the echo
// ones; a report without the section draws no fan-out panel. Either way
// the SVG is well-formed XML.
func TestFanoutPanel(t *testing.T) {
	res := func(rate, perCPU, p99 float64) *result {
		return &result{MsgsPerSec: rate, PerCPUSec: perCPU, P99us: p99}
	}
	f := &fanout{
		Inflight: 8, Runs: 2, DurationS: 1, WarmupS: 0.3,
		Scenarios: []fanoutScenario{{ID: "a", Subscribers: 1000, Size: 20}, {ID: "b", Subscribers: 10000, Size: 1024, Deflate: true}},
		Servers: []*server{
			{Name: "libws-c-hub", Label: "libws C hub", Libws: true, Status: "ok", Results: map[string]*result{"a": res(9e5, 2e6, 900), "b": {Error: "lost"}}},
			{Name: "gws", Label: "gws", Status: "ok", Results: map[string]*result{"a": res(3e5, 5e5, 20000), "b": res(1e5, 2e5, 40000)}},
			{Name: "node-ws", Label: "ws", Status: "n/a"},
		},
		Ratios: []fanoutRatios{{Server: "libws-c-hub", Ratios: []fanoutRatio{{Scenario: "a", CPURatio: 4, CPUBestPeer: "gws", RateRatio: 3, FastestPeer: "gws"}}}},
		ScaleOut: &scaleOut{
			Status: "ok", Redis: "7.0.15", Scenarios: []fanoutScenario{{ID: "a", Subscribers: 1000, Size: 20}},
			One: map[string]*result{"a": res(9e5, 2e6, 900)}, Two: map[string]*result{"a": res(8e5, 1e6, 1500)},
			Ratios: []scaleRatio{{Scenario: "a", RateRatio: 0.89, P99Ratio: 1.67}},
		},
	}
	out := draw(&report{Date: "2026-12-07T00:00:00Z", Machine: map[string]any{"cores": 2}, Fanout: f})
	for _, want := range []string{"libws fan-out benchmark", "deliveries per server CPU-second", "p99 delivery latency",
		"1k × 20 B: 4.0× gws", "goal not met", "FAILED", "(n/a)", "2 processes + Redis: 800k deliveries/s, p99 1.5 ms (0.89×"} {
		if !strings.Contains(out, want) {
			t.Errorf("fan-out chart lacks %q", want)
		}
	}
	if strings.Contains(out, "messages echoed per second") {
		t.Error("a fan-out-only report drew the echo panels")
	}
	if err := xml.Unmarshal([]byte(out), new(struct{})); err != nil {
		t.Errorf("not well-formed: %v", err)
	}
	out = draw(&report{Date: "2026-12-07T00:00:00Z", Machine: map[string]any{"cores": 2},
		Servers: []*server{{Name: "gws", Label: "gws", Status: "ok", Results: map[string]*result{}}}})
	if strings.Contains(out, "Fan-out") || !strings.Contains(out, "messages echoed per second") {
		t.Error("an echo-only report: fan-out panel drawn, or echo panels missing")
	}
}
