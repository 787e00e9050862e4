// Command report turns the raw output of bench/run.sh (build/bench/raw/)
// into bench/results/latest.json and prints the results table, the libws
// servers' ratios to the fastest peer of their language, the compression
// section (permessage-deflate on vs off), the fan-out section (fanout.go),
// and anything that went wrong.
//
// Usage: report -raw build/bench/raw -out bench/results/latest.json
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Scenario is one loadgen configuration.
type Scenario struct {
	ID       string `json:"id"`
	Label    string `json:"label"`
	Conns    int    `json:"conns"`
	Size     int    `json:"size"`
	Inflight int    `json:"inflight"`
}

// The scenarios, in bench/run.sh's order (ids must match its SCENARIOS).
var scenarios = []Scenario{
	{"c100-s20", "100 conns × 20 B", 100, 20, 1},
	{"c10-s1k", "10 conns × 1 KiB", 10, 1024, 1},
	{"c10-s16k", "10 conns × 16 KiB", 10, 16384, 1},
	{"c200-s16k", "200 conns × 16 KiB", 200, 16384, 1},
	{"c1000-s20", "1000 conns × 20 B", 1000, 20, 1},
	{"c100-s20-if4", "100 conns × 20 B, 4 in flight", 100, 20, 4},
}

// The TLS section's scenarios, over wss:// (ids must match bench/run.sh's
// TLS_SCENARIOS).
var tlsScenarios = []Scenario{
	{"tls-c100-s1k", "100 conns × 1 KiB, TLS 1.3", 100, 1024, 1},
	{"tls-c10-s16k", "10 conns × 16 KiB, TLS 1.3", 10, 16384, 1},
}

// alsoPeersOf lists, per language of a libws server, the peers of other
// languages it is ranked against too: fastwebsockets (Rust, native code,
// the library libws set out to equal) is a peer of both the Go engine and
// the C hub.
var alsoPeersOf = map[string][]string{"go": {"rust"}, "c": {"rust"}}

// Saturated is the loadgen_cpu (cores) above which loadgen, not the server,
// may have been the limit.
const Saturated = 0.95

// Result is one server in one scenario.
type Result struct {
	MsgsPerSec float64 `json:"msgs_per_sec"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	MBPerSec   float64 `json:"mb_per_sec"`
	LoadgenCPU float64 `json:"loadgen_cpu"`
	// LoadgenSaturated: loadgen_cpu > 0.95, so the rate is a lower bound
	// of what the server can do.
	LoadgenSaturated bool `json:"loadgen_saturated"`
	// ServerCPU is the cores the server used over the whole loadgen run,
	// connecting, warm-up and closing included (so a little low).
	ServerCPU float64 `json:"server_cpu"`
	// ServerCPUPerMsg is µs of server CPU time (user + system, all its
	// threads, /proc/PID/stat) per echoed message over the measured
	// windows (median over them), and ServerCPUWindow the server's cores
	// over those windows: what the server spends per echo, which ranks
	// servers where msgs/s cannot (loadgen saturated).
	ServerCPUPerMsg float64 `json:"server_cpu_us_per_msg,omitempty"`
	ServerCPUWindow float64 `json:"server_cpu_window,omitempty"`
	// DeliveriesPerCPUSec (fan-out section): deliveries over the server's
	// CPU seconds in the windows, the inverse of ServerCPUPerMsg.
	DeliveriesPerCPUSec float64 `json:"deliveries_per_cpu_sec,omitempty"`
	// Over the same span: the idle fraction of core 0 (server) and core 1
	// (loadgen), and the cores' time stolen by the hypervisor. Idle time on
	// a core while its process ran slowly points at outside disturbance.
	Core0Idle float64 `json:"core0_idle"`
	Core1Idle float64 `json:"core1_idle"`
	Steal     float64 `json:"steal"`
	// Other work's share of each core: busy time less the server's (core
	// 0) or loadgen's (core 1; loadgen_cpu, so a little high).
	OtherCore0 float64   `json:"other_work_core0"`
	OtherCore1 float64   `json:"other_work_core1"`
	RunsRate   []float64 `json:"runs_msgs_per_sec,omitempty"`
	Note       string    `json:"note,omitempty"`
	// Retries lists the attempts that were run again (a failure, a stall,
	// or loadgen and server both mostly idle); the result is the best clean
	// attempt.
	Retries []string `json:"retries,omitempty"`
	// Disturbed: even the kept attempt was not clean; why.
	Disturbed string `json:"disturbed,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Idle is the memory test.
type Idle struct {
	Conns          int     `json:"conns"`
	RSSBeforeBytes int64   `json:"rss_before_bytes,omitempty"`
	RSSLoadedBytes int64   `json:"rss_loaded_bytes,omitempty"`
	BytesPerConn   float64 `json:"bytes_per_conn,omitempty"`
	Error          string  `json:"error,omitempty"`
}

// Server is one server's results.
type Server struct {
	ServerInfo
	Results map[string]*Result `json:"results,omitempty"`
	Idle    *Idle              `json:"idle,omitempty"`
}

// ServerInfo is what both sections say of a server besides its results.
type ServerInfo struct {
	Name     string `json:"name"`
	Label    string `json:"label"`
	Language string `json:"language"`
	// Libws is true for libws's own servers, false for the peers.
	Libws   bool   `json:"libws"`
	Command string `json:"command"`
	// Status is "ok" or "n/a"; Note says why for n/a.
	Status      string   `json:"status"`
	Note        string   `json:"note,omitempty"`
	LoadAverage string   `json:"load_average_before,omitempty"`
	Problems    []string `json:"problems,omitempty"`
	// LogTail is the end of what the server printed beyond its start line,
	// when it printed more (errors, warnings).
	LogLines int      `json:"log_lines,omitempty"`
	LogTail  []string `json:"log_tail,omitempty"`
}

// serverList reads a section's servers.txt (written by run.sh) and the
// state of each server's directory, and calls each with them.
func serverList(raw string, each func(info ServerInfo, dir string)) {
	for _, line := range lines(filepath.Join(raw, "servers.txt")) {
		f := strings.Split(line, "\t")
		if len(f) < 5 {
			continue
		}
		info := ServerInfo{Name: f[0], Label: f[1], Language: f[2], Libws: f[3] == "libws", Command: strings.TrimSpace(f[4])}
		dir := filepath.Join(raw, info.Name)
		info.Status, info.Note = status(dir)
		info.LoadAverage = readTrim(filepath.Join(dir, "loadavg.txt"))
		info.Problems = append(lines(filepath.Join(dir, "problems.txt")), lines(filepath.Join(dir, "stop.txt"))...)
		if info.Status == "ok" {
			info.LogLines, info.LogTail = logTail(filepath.Join(dir, "server.log"))
		}
		each(info, dir)
	}
}

// Ratio is a libws server against the fastest peer of its language.
type Ratio struct {
	Scenario    string  `json:"scenario"`
	Ratio       float64 `json:"ratio"`
	FastestPeer string  `json:"fastest_peer"`
	// LoadgenBound: loadgen saturated its core for the libws server or the
	// peer, so the ratio compares loadgen's limit more than the servers.
	LoadgenBound bool `json:"loadgen_bound,omitempty"`
	// CPUPerMsgRatio is the libws server's CPU time per message over the
	// leanest peer's (< 1: libws spends less per echo). Where LoadgenBound,
	// this is the ratio that ranks the servers.
	CPUPerMsgRatio float64 `json:"cpu_per_msg_ratio,omitempty"`
	LeanestPeer    string  `json:"cpu_leanest_peer,omitempty"`
}

// Ratios is one libws server's ratios.
type Ratios struct {
	Server   string   `json:"server"`
	Language string   `json:"language"`
	Peers    []string `json:"peers"`
	Ratios   []Ratio  `json:"throughput"`
	// IdleRatio is bytes per idle connection over the leanest peer's.
	IdleRatio   float64 `json:"idle_bytes_ratio,omitempty"`
	LeanestPeer string  `json:"leanest_peer,omitempty"`
}

// CompScenario is one scenario of the compression section, each run with
// permessage-deflate off and on.
type CompScenario struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Conns int    `json:"conns"`
	Size  int    `json:"size"`
}

// The compression scenarios, in bench/run.sh's order (ids must match its
// COMP_SCENARIOS).
var compScenarios = []CompScenario{
	{"c10-json1k", "10 conns × 1 KiB JSON text", 10, 1024},
	{"c100-json1k", "100 conns × 1 KiB JSON text", 100, 1024},
}

// CompResult is one server in one compression scenario.
type CompResult struct {
	Off *Result `json:"off,omitempty"` // loadgen without -deflate
	On  *Result `json:"on,omitempty"`  // loadgen -deflate
	// Deflate: every connection of the "on" run negotiated
	// permessage-deflate; false means the server declined and "on" ran
	// uncompressed.
	Deflate    bool   `json:"deflate"`
	Extensions string `json:"extensions,omitempty"` // the server's answer
	// OnOff is msgs/s on over msgs/s off.
	OnOff float64 `json:"on_off_ratio,omitempty"`
	// Bytes on the wire over payload bytes in the "on" run (frame headers
	// not counted): of loadgen's messages (compress/flate level 1), of the
	// server's echoes, and of both.
	SentRatio float64 `json:"sent_ratio,omitempty"`
	EchoRatio float64 `json:"echo_ratio,omitempty"`
	WireRatio float64 `json:"wire_ratio,omitempty"`
	// EchoesCompressed is the share of echoes the server sent compressed.
	EchoesCompressed float64 `json:"echoes_compressed,omitempty"`
}

// CompServer is one server's compression results.
type CompServer struct {
	ServerInfo
	Results map[string]*CompResult `json:"results,omitempty"`
}

// Compression is the compression section of latest.json.
type Compression struct {
	Method    string         `json:"method"`
	Scenarios []CompScenario `json:"scenarios"`
	Servers   []*CompServer  `json:"servers"`
}

// Report is latest.json.
type Report struct {
	Date     string            `json:"date"`
	Machine  map[string]any    `json:"machine"`
	Pinning  string            `json:"pinning"`
	Method   map[string]any    `json:"method"`
	Versions map[string]string `json:"versions"`
	Load     map[string]string `json:"load_average"`
	// WallS is the suite's own time after building (bench/run.sh), seconds.
	WallS     float64    `json:"suite_wall_s"`
	Scenarios []Scenario `json:"scenarios"`
	Servers   []*Server  `json:"servers"`
	Ratios    []Ratios   `json:"ratios"`
	// Compression is nil when the run skipped that section.
	Compression *Compression `json:"compression,omitempty"`
	// TLS is nil when the run skipped that section.
	TLS *TLSSection `json:"tls,omitempty"`
	// Fanout is nil when the run skipped that section (fanout.go).
	Fanout *Fanout `json:"fanout,omitempty"`
}

// TLSSection is the TLS section of latest.json: the main section's
// measurements over wss://, for the servers that can serve it.
type TLSSection struct {
	Method    string     `json:"method"`
	Scenarios []Scenario `json:"scenarios"`
	Servers   []*Server  `json:"servers"`
	Ratios    []Ratios   `json:"ratios"`
}

func main() {
	raw := flag.String("raw", "build/bench/raw", "bench/run.sh's raw output")
	out := flag.String("out", "bench/results/latest.json", "JSON file to write")
	flag.Parse()
	rep, err := load(*raw)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err == nil {
		err = os.WriteFile(*out, append(b, '\n'), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	printReport(os.Stdout, rep)
}

func readKV(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kv := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	return kv, sc.Err()
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func lines(path string) []string {
	s := readTrim(path)
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func atof(s string) float64 {
	f, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f
}

func load(raw string) (*Report, error) {
	meta, err := readKV(filepath.Join(raw, "meta.txt"))
	if err != nil {
		return nil, err
	}
	cores, _ := strconv.Atoi(meta["cores"])
	memKB, _ := strconv.Atoi(meta["mem_total_kb"])
	idleConns, _ := strconv.Atoi(meta["idle_conns"])
	runs, _ := strconv.Atoi(meta["runs"])
	rep := &Report{
		Date: meta["date"],
		Machine: map[string]any{
			"cpu": meta["cpu"], "cores": cores, "kernel": meta["kernel"],
			"mem_total_mib": memKB / 1024,
		},
		Pinning: meta["pinning"],
		Method: map[string]any{
			"loadgen":        "bench/loadgen (raw TCP, no WebSocket library), binary messages, every echo checked",
			"warmup_s":       atof(meta["warmup_s"]),
			"duration_s":     atof(meta["duration_s"]),
			"runs":           runs,
			"statistic":      "median over the runs",
			"idle_conns":     idleConns,
			"hold_s":         atof(meta["hold_s"]),
			"bytes_per_conn": "(VmRSS loaded - VmRSS before) / idle_conns, VmRSS from /proc/PID/status, fresh server",
			"server_cpu_us_per_msg": "server CPU time (utime + stime of /proc/PID/stat, all threads, 10 ms ticks) over each measured window " +
				"divided by the messages echoed in it (loadgen -server-pid), median over the runs",
			"quick":        meta["quick"] == "1",
			"main_section": meta["main_section"] != "0",
		},
		Versions:  map[string]string{},
		Load:      map[string]string{"start": meta["loadavg_start"], "end": meta["loadavg_end"]},
		WallS:     atof(meta["wall_s"]),
		Scenarios: scenarios,
	}
	for _, k := range []string{"go", "node", "python", "python_websockets", "python_websockets_pypi", "node_ws", "libwebsockets", "gorilla", "gws", "gobwas", "fastwebsockets", "libws", "libws_commit", "cc"} {
		if v := meta[k]; v != "" {
			rep.Versions[k] = v
		}
	}

	rep.Servers = loadServers(raw, scenarios, idleConns)
	rep.Ratios = ratios(rep.Servers, scenarios)
	if meta["compression_section"] != "0" {
		rep.Compression = loadCompression(filepath.Join(raw, "compression"))
	}
	if meta["tls_section"] == "1" {
		servers := loadServers(filepath.Join(raw, "tls"), tlsScenarios, idleConns)
		rep.TLS = &TLSSection{
			Method: "bench/loadgen over wss:// (crypto/tls, TLS 1.3 only, certificate not verified), binary messages, every echo checked; " +
				"a self-signed P-256 certificate made for the run; idle: the memory test with TLS connections",
			Scenarios: tlsScenarios,
			Servers:   servers,
			Ratios:    ratios(servers, tlsScenarios),
		}
	}
	if meta["fanout_section"] == "1" {
		rep.Fanout = loadFanout(filepath.Join(raw, "fanout"))
	}
	return rep, nil
}

// loadServers reads one section's servers (main or TLS) and their results.
func loadServers(raw string, scs []Scenario, idleConns int) []*Server {
	servers := []*Server{}
	serverList(raw, func(info ServerInfo, dir string) {
		s := &Server{ServerInfo: info}
		if s.Status == "ok" {
			s.Results = map[string]*Result{}
			for _, sc := range scs {
				if r := loadResult(dir, sc.ID); r != nil {
					s.Results[sc.ID] = r
				}
			}
			s.Idle = loadIdle(dir, idleConns)
		}
		servers = append(servers, s)
	})
	return servers
}

// loadCompression reads the compression section's raw output: the same
// layout as the main section's, one directory per server, with files
// SCENARIO-off.* and SCENARIO-on.* per scenario.
func loadCompression(raw string) *Compression {
	c := &Compression{
		Method: "bench/loadgen -json-payload (1 KiB JSON-like text, every echo checked after inflating), " +
			"without and with -deflate (offer: permessage-deflate; client_no_context_takeover; server_no_context_takeover), " +
			"back to back against one server start; ratios are payload bytes on the wire over payload bytes, frame headers not counted",
		Scenarios: compScenarios,
		Servers:   []*CompServer{},
	}
	serverList(raw, func(info ServerInfo, dir string) {
		s := &CompServer{ServerInfo: info}
		if s.Status == "ok" {
			s.Results = map[string]*CompResult{}
			for _, sc := range compScenarios {
				if r := loadCompResult(dir, sc.ID); r != nil {
					s.Results[sc.ID] = r
				}
			}
		}
		c.Servers = append(c.Servers, s)
	})
	return c
}

func loadCompResult(dir, id string) *CompResult {
	r := &CompResult{Off: loadResult(dir, id+"-off"), On: loadResult(dir, id+"-on")}
	if r.Off == nil && r.On == nil {
		return nil
	}
	if r.On == nil || r.On.Error != "" {
		return r
	}
	var lg struct {
		Deflate    bool   `json:"deflate"`
		Extensions string `json:"extensions"`
		Traffic    struct {
			RecvMsgs           float64 `json:"recv_msgs"`
			RecvCompressedMsgs float64 `json:"recv_compressed_msgs"`
			SentRatio          float64 `json:"sent_ratio"`
			RecvRatio          float64 `json:"recv_ratio"`
			WireRatio          float64 `json:"wire_ratio"`
		} `json:"traffic"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, id+"-on.json"))
	if json.Unmarshal(b, &lg) != nil {
		return r
	}
	r.Deflate, r.Extensions = lg.Deflate, lg.Extensions
	r.SentRatio, r.EchoRatio, r.WireRatio = lg.Traffic.SentRatio, lg.Traffic.RecvRatio, lg.Traffic.WireRatio
	if lg.Traffic.RecvMsgs > 0 {
		r.EchoesCompressed = math.Round(lg.Traffic.RecvCompressedMsgs/lg.Traffic.RecvMsgs*1e4) / 1e4
	}
	if r.Off != nil && r.Off.Error == "" && r.Off.MsgsPerSec > 0 {
		r.OnOff = math.Round(r.On.MsgsPerSec/r.Off.MsgsPerSec*1e4) / 1e4
	}
	return r
}

// status reads a server directory's status.txt: "ok", or "n/a" and why.
func status(dir string) (string, string) {
	st := readTrim(filepath.Join(dir, "status.txt"))
	if st == "ok" {
		return "ok", ""
	}
	note := strings.TrimSpace(strings.TrimPrefix(st, "n/a:"))
	if note == "" {
		note = "not measured"
	}
	return "n/a", note
}

func loadResult(dir, id string) *Result {
	rcs := readTrim(filepath.Join(dir, id+".rc"))
	if rcs == "" {
		return nil // not run (the server died and could not be restarted)
	}
	var lg struct {
		MsgsPerSec float64 `json:"msgs_per_sec"`
		P50us      float64 `json:"p50_us"`
		P99us      float64 `json:"p99_us"`
		MBPerSec   float64 `json:"mb_per_sec"`
		LoadgenCPU float64 `json:"loadgen_cpu"`
		ServerCPU  float64 `json:"server_cpu"`
		PerMsg     float64 `json:"server_cpu_us_per_msg"`
		Error      string  `json:"error"`
		Runs       []struct {
			MsgsPerSec float64 `json:"msgs_per_sec"`
		} `json:"runs"`
	}
	r := &Result{
		Retries:   lines(filepath.Join(dir, id+".retry")),
		Disturbed: readTrim(filepath.Join(dir, id+".disturbed")),
	}
	if f := strings.Fields(readTrim(filepath.Join(dir, id+".cpu"))); len(f) == 4 {
		r.ServerCPU, r.Core0Idle, r.Core1Idle, r.Steal = atof(f[0]), atof(f[1]), atof(f[2]), atof(f[3])
	}
	b, _ := os.ReadFile(filepath.Join(dir, id+".json"))
	jsonErr := json.Unmarshal(b, &lg)
	switch {
	case rcs == "124" || rcs == "137":
		r.Error = "loadgen timed out"
	case lg.Error != "":
		r.Error = lg.Error
	case rcs != "0" || jsonErr != nil:
		r.Error = "loadgen exit status " + rcs
		if t := lines(filepath.Join(dir, id+".err")); len(t) > 0 {
			r.Error += ": " + t[len(t)-1]
		}
	}
	if r.Error != "" {
		return r
	}
	r.MsgsPerSec, r.P50us, r.P99us, r.MBPerSec, r.LoadgenCPU = lg.MsgsPerSec, lg.P50us, lg.P99us, lg.MBPerSec, lg.LoadgenCPU
	r.ServerCPUWindow, r.ServerCPUPerMsg = lg.ServerCPU, math.Round(lg.PerMsg*1000)/1000
	r.LoadgenSaturated = lg.LoadgenCPU > Saturated
	if r.Core0Idle+r.Core1Idle > 0 {
		r.OtherCore0 = math.Round(max(0, 1-r.Core0Idle-r.ServerCPU)*1000) / 1000
		r.OtherCore1 = math.Round(max(0, 1-r.Core1Idle-r.LoadgenCPU)*1000) / 1000
	}
	stalls := 0
	for _, x := range lg.Runs {
		r.RunsRate = append(r.RunsRate, x.MsgsPerSec)
		if x.MsgsPerSec == 0 {
			stalls++
		}
	}
	switch {
	case r.MsgsPerSec == 0:
		// loadgen saw no error, yet no echo came back in the window(s).
		r.Error = "no message echoed in the measured window(s): the server stalled"
	case stalls > 0:
		r.Note = fmt.Sprintf("%d of %d windows had no echo at all (a stall)", stalls, len(lg.Runs))
	}
	return r
}

func loadIdle(dir string, conns int) *Idle {
	idle := &Idle{Conns: conns}
	f := strings.Fields(readTrim(filepath.Join(dir, "idle.txt")))
	if len(f) == 2 {
		before, _ := strconv.ParseInt(f[0], 10, 64)
		loaded, _ := strconv.ParseInt(f[1], 10, 64)
		idle.RSSBeforeBytes, idle.RSSLoadedBytes = before*1024, loaded*1024
		if conns > 0 && loaded > 0 {
			idle.BytesPerConn = float64(idle.RSSLoadedBytes-idle.RSSBeforeBytes) / float64(conns)
			return idle
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "idle.err")); errors.Is(err, os.ErrNotExist) {
		return nil // not run (--no-memory)
	}
	idle.Error = "idle test failed"
	if t := lines(filepath.Join(dir, "idle.err")); len(t) > 0 {
		idle.Error += ": " + t[len(t)-1]
	}
	return idle
}

// logTail returns how many lines the server printed beyond the suite's own
// "--- start" markers and its first (listening) line after each, and the
// last few of them.
func logTail(path string) (int, []string) {
	var extra []string
	afterStart := false
	for _, l := range lines(path) {
		switch {
		case strings.HasPrefix(l, "--- ") && strings.Contains(l, " start: "):
			afterStart = true
		case afterStart && strings.Contains(strings.ToLower(l), "listening"):
			afterStart = false
		case strings.Contains(l, "echo server on ws://"): // the Python binding's start line
			afterStart = false
		default:
			afterStart = false
			extra = append(extra, l)
		}
	}
	tail := extra
	if len(tail) > 5 {
		tail = tail[len(tail)-5:]
	}
	for i, l := range tail {
		if len(l) > 300 {
			tail[i] = l[:300] + "…"
		}
	}
	return len(extra), tail
}

func ok(s *Server, id string) (*Result, bool) {
	if s.Status != "ok" {
		return nil, false
	}
	r := s.Results[id]
	return r, r != nil && r.Error == "" && r.MsgsPerSec > 0
}

// isPeerOf: p is one of the peers libws server s is ranked against.
func isPeerOf(p, s *Server) bool {
	if p.Libws {
		return false
	}
	return p.Language == s.Language || slices.Contains(alsoPeersOf[s.Language], p.Language)
}

func ratios(servers []*Server, scs []Scenario) []Ratios {
	out := []Ratios{}
	for _, s := range servers {
		if !s.Libws || s.Status != "ok" {
			continue
		}
		rs := Ratios{Server: s.Name, Language: s.Language}
		var peers []*Server
		for _, p := range servers {
			if isPeerOf(p, s) {
				peers = append(peers, p)
				rs.Peers = append(rs.Peers, p.Name)
			}
		}
		for _, sc := range scs {
			r, good := ok(s, sc.ID)
			if !good {
				continue
			}
			var best *Server
			var bestRate float64
			for _, p := range peers {
				if pr, pgood := ok(p, sc.ID); pgood && pr.MsgsPerSec > bestRate {
					best, bestRate = p, pr.MsgsPerSec
				}
			}
			if best == nil {
				continue
			}
			ra := Ratio{Scenario: sc.ID, Ratio: r.MsgsPerSec / bestRate, FastestPeer: best.Name,
				LoadgenBound: r.LoadgenSaturated || best.Results[sc.ID].LoadgenSaturated}
			var lean *Server
			for _, p := range peers {
				if pr, pgood := ok(p, sc.ID); pgood && pr.ServerCPUPerMsg > 0 &&
					(lean == nil || pr.ServerCPUPerMsg < lean.Results[sc.ID].ServerCPUPerMsg) {
					lean = p
				}
			}
			if lean != nil && r.ServerCPUPerMsg > 0 {
				ra.CPUPerMsgRatio = r.ServerCPUPerMsg / lean.Results[sc.ID].ServerCPUPerMsg
				ra.LeanestPeer = lean.Name
			}
			rs.Ratios = append(rs.Ratios, ra)
		}
		if s.Idle != nil && s.Idle.Error == "" && s.Idle.BytesPerConn > 0 {
			var lean *Server
			for _, p := range peers {
				if p.Status == "ok" && p.Idle != nil && p.Idle.Error == "" && p.Idle.BytesPerConn > 0 &&
					(lean == nil || p.Idle.BytesPerConn < lean.Idle.BytesPerConn) {
					lean = p
				}
			}
			if lean != nil {
				rs.IdleRatio, rs.LeanestPeer = s.Idle.BytesPerConn/lean.Idle.BytesPerConn, lean.Name
			}
		}
		out = append(out, rs)
	}
	return out
}

// ---------------------------------------------------------------- text

var shortScenario = map[string]string{
	"c100-s20":     "100×20B",
	"c10-s1k":      "10×1KiB",
	"c10-s16k":     "10×16KiB",
	"c200-s16k":    "200×16KiB",
	"c1000-s20":    "1000×20B",
	"c100-s20-if4": "100×20B if4",
	"tls-c100-s1k": "100×1KiB",
	"tls-c10-s16k": "10×16KiB",
}

// shortName keeps the ratio table narrow.
func shortName(name string) string {
	switch name {
	case "python-websockets":
		return "websockets"
	case "python-websockets-pypi":
		return "websockets-pypi"
	case "node-ws":
		return "ws"
	case "fastwebsockets":
		return "fastws"
	}
	return name
}

func rate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.2fk", v/1e3)
	}
}

func dur(us float64) string {
	switch {
	case us >= 1e5:
		return fmt.Sprintf("%.0fms", us/1e3)
	case us >= 1e3:
		return fmt.Sprintf("%.1fms", us/1e3)
	default:
		return fmt.Sprintf("%.0fµs", us)
	}
}

func bytesStr(b float64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 10*1024:
		return fmt.Sprintf("%.1f KiB", b/1024)
	default:
		return fmt.Sprintf("%.0f B", b)
	}
}

// pad right-aligns s in w columns, counting runes (× and µ are one wide).
func pad(s string, w int) string {
	n := len([]rune(s))
	if n >= w {
		return s
	}
	return strings.Repeat(" ", w-n) + s
}

func padLeft(s string, w int) string {
	n := len([]rune(s))
	if n >= w {
		return s
	}
	return s + strings.Repeat(" ", w-n)
}

func printReport(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "libws benchmark, %s: %s, %v cores; %s\n", rep.Date, rep.Machine["cpu"], rep.Machine["cores"], rep.Pinning)
	if len(rep.Servers) > 0 || rep.TLS != nil || rep.Compression != nil {
		fmt.Fprintf(w, "each cell: median of %v runs of %vs after %vs warm-up; ", rep.Method["runs"], rep.Method["duration_s"], rep.Method["warmup_s"])
	}
	fmt.Fprintf(w, "load average %s at start, %s at end\n\n", rep.Load["start"], rep.Load["end"])
	if len(rep.Servers) > 0 {
		printSection(w, "", scenarios, rep.Servers, rep.Ratios)
	}
	if rep.TLS != nil && len(rep.TLS.Servers) > 0 {
		fmt.Fprintln(w)
		printSection(w, "TLS (wss://, TLS 1.3): ", rep.TLS.Scenarios, rep.TLS.Servers, rep.TLS.Ratios)
	}
	if rep.Compression != nil && len(rep.Compression.Servers) > 0 {
		printCompression(w, rep.Compression)
	}
	if rep.Fanout != nil {
		printFanout(w, rep.Fanout)
	}
	printNotes(w, rep)
}

// printSection prints a section's tables (the main one, or TLS): msgs/s
// and idle memory, latency, CPU, CPU per message, and the ratios.
func printSection(w io.Writer, what string, scs []Scenario, servers []*Server, allRatios []Ratios) {
	nameW := len("server")
	for _, s := range servers {
		nameW = max(nameW, len([]rune(s.Label))+2)
	}
	const colW = 12

	header := func(title string, last string) {
		fmt.Fprintln(w, title)
		fmt.Fprint(w, padLeft("server", nameW))
		for _, sc := range scs {
			fmt.Fprint(w, pad(shortScenario[sc.ID], colW))
		}
		if last != "" {
			fmt.Fprint(w, pad(last, 14))
		}
		fmt.Fprintln(w)
	}
	name := func(s *Server) string {
		if s.Libws {
			return "* " + s.Label
		}
		return "  " + s.Label
	}

	saturated, disturbed := false, false
	header(what+"Throughput, messages/s echoed (* = libws; ! = loadgen saturated its core, a lower bound; ? = disturbed)", "B/idle conn")
	for _, s := range servers {
		fmt.Fprint(w, padLeft(name(s), nameW))
		for _, sc := range scs {
			cell := "n/a"
			if s.Status == "ok" {
				r := s.Results[sc.ID]
				switch {
				case r == nil:
					cell = "-"
				case r.Error != "":
					cell = "FAIL"
				default:
					cell = rate(r.MsgsPerSec)
					if r.LoadgenSaturated {
						cell += "!"
						saturated = true
					}
					if r.Disturbed != "" {
						cell += "?"
						disturbed = true
					}
				}
			}
			fmt.Fprint(w, pad(cell, colW))
		}
		cell := "n/a"
		if s.Idle != nil {
			if s.Idle.Error != "" {
				cell = "FAIL"
			} else {
				cell = bytesStr(s.Idle.BytesPerConn)
			}
		} else if s.Status == "ok" {
			cell = "-"
		}
		fmt.Fprint(w, pad(cell, 14))
		if s.Status != "ok" {
			fmt.Fprintf(w, "  (%s)", s.Note)
		}
		fmt.Fprintln(w)
	}
	if saturated {
		see := ""
		if slices.ContainsFunc(scs, func(sc Scenario) bool { return sc.Inflight > 1 }) {
			see = " (see the 4-in-flight column)"
		}
		fmt.Fprintln(w, "! loadgen used more than 0.95 of its core: the server may do more than shown, and CPU per message ranks it"+see)
	}
	if disturbed {
		fmt.Fprintln(w, "? disturbed in every attempt (stall, or server and loadgen both mostly idle): other work on the machine, low confidence")
	}

	fmt.Fprintln(w)
	header(what+"Latency, p50 / p99 round trip", "")
	for _, s := range servers {
		if s.Status != "ok" {
			continue
		}
		fmt.Fprint(w, padLeft(name(s), nameW))
		for _, sc := range scs {
			cell := "-"
			if r, good := ok(s, sc.ID); good {
				cell = dur(r.P50us) + "/" + dur(r.P99us)
			}
			fmt.Fprint(w, pad(cell, colW+2))
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w)
	header(what+"CPU, cores used: loadgen (core 1, measured windows) / server (core 0, whole run)", "")
	for _, s := range servers {
		if s.Status != "ok" {
			continue
		}
		fmt.Fprint(w, padLeft(name(s), nameW))
		for _, sc := range scs {
			cell := "-"
			if r, good := ok(s, sc.ID); good {
				cell = fmt.Sprintf("%.2f/%.2f", r.LoadgenCPU, r.ServerCPU)
			}
			fmt.Fprint(w, pad(cell, colW))
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w)
	header(what+"Server CPU time per echoed message, µs (measured windows; lower is better)", "")
	for _, s := range servers {
		if s.Status != "ok" {
			continue
		}
		fmt.Fprint(w, padLeft(name(s), nameW))
		for _, sc := range scs {
			cell := "-"
			if r, good := ok(s, sc.ID); good && r.ServerCPUPerMsg > 0 {
				cell = fmt.Sprintf("%.2f", r.ServerCPUPerMsg)
				if r.LoadgenSaturated {
					cell += "!"
				}
			}
			fmt.Fprint(w, pad(cell, colW))
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, what+"libws vs the fastest peer (its language's, and fastwebsockets for Go and C): msgs/s ratio (>1 = libws faster;")
	fmt.Fprintln(w, "! = loadgen saturated for one of the two, so loadgen's limit more than the servers': rank by CPU per message below),")
	fmt.Fprintln(w, "and bytes per idle connection vs the leanest peer (<1 = libws leaner)")
	fmt.Fprint(w, padLeft("libws server", nameW))
	for _, sc := range scs {
		fmt.Fprint(w, pad(shortScenario[sc.ID], colW+10))
	}
	fmt.Fprintln(w, pad("idle bytes", 16))
	for _, s := range servers {
		if !s.Libws {
			continue
		}
		if s.Status != "ok" {
			fmt.Fprintf(w, "%s  n/a (%s)\n", padLeft("  "+s.Label, nameW), s.Note)
			continue
		}
		rs := ratiosOf(allRatios, s.Name)
		fmt.Fprint(w, padLeft("  "+s.Label, nameW))
		for _, sc := range scs {
			cell := "-"
			if rs != nil {
				for _, r := range rs.Ratios {
					if r.Scenario == sc.ID {
						bound := " "
						if r.LoadgenBound {
							bound = "!"
						}
						cell = fmt.Sprintf("%.2f%s %s", r.Ratio, bound, shortName(r.FastestPeer))
					}
				}
			}
			fmt.Fprint(w, pad(cell, colW+10))
		}
		cell := "-"
		if rs != nil && rs.LeanestPeer != "" {
			cell = fmt.Sprintf("%.2f %s", rs.IdleRatio, shortName(rs.LeanestPeer))
		}
		fmt.Fprint(w, pad(cell, 16))
		if rs != nil && len(rs.Ratios) == 0 {
			if len(rs.Peers) == 0 {
				fmt.Fprintf(w, "  (no %s peer in this run)", s.Language)
			} else {
				fmt.Fprintf(w, "  (no %s peer measured: %s)", s.Language, strings.Join(rs.Peers, ", "))
			}
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, what+"libws vs the leanest peer in server CPU time per message (<1 = libws spends less per echo; ! = loadgen saturated:")
	fmt.Fprintln(w, "there this, not msgs/s, ranks the servers)")
	fmt.Fprint(w, padLeft("libws server", nameW))
	for _, sc := range scs {
		fmt.Fprint(w, pad(shortScenario[sc.ID], colW+10))
	}
	fmt.Fprintln(w)
	for _, s := range servers {
		if !s.Libws || s.Status != "ok" {
			continue
		}
		rs := ratiosOf(allRatios, s.Name)
		fmt.Fprint(w, padLeft("  "+s.Label, nameW))
		for _, sc := range scs {
			cell := "-"
			if rs != nil {
				for _, r := range rs.Ratios {
					if r.Scenario == sc.ID && r.LeanestPeer != "" {
						bound := " "
						if r.LoadgenBound {
							bound = "!"
						}
						cell = fmt.Sprintf("%.2f%s %s", r.CPUPerMsgRatio, bound, shortName(r.LeanestPeer))
					}
				}
			}
			fmt.Fprint(w, pad(cell, colW+10))
		}
		fmt.Fprintln(w)
	}
}

// ratiosOf finds a libws server's ratios.
func ratiosOf(all []Ratios, name string) *Ratios {
	for i := range all {
		if all[i].Server == name {
			return &all[i]
		}
	}
	return nil
}

// serverNotes lists what went wrong with a section's servers.
func serverNotes(prefix string, servers []*Server, scs []Scenario) []string {
	var notes []string
	for _, s := range servers {
		if s.Status != "ok" {
			continue
		}
		for _, sc := range scs {
			if r := s.Results[sc.ID]; r != nil && r.Error != "" {
				notes = append(notes, fmt.Sprintf("%s%s, %s: %s", prefix, s.Name, sc.ID, r.Error))
			} else if r != nil && r.Note != "" {
				notes = append(notes, fmt.Sprintf("%s%s, %s: %s", prefix, s.Name, sc.ID, r.Note))
			}
			if r := s.Results[sc.ID]; r != nil && r.Error == "" && r.Disturbed != "" {
				notes = append(notes, fmt.Sprintf("%s%s, %s: all attempts disturbed (kept the best): %s", prefix, s.Name, sc.ID, r.Disturbed))
			} else if r != nil && len(r.Retries) > 0 {
				notes = append(notes, fmt.Sprintf("%s%s, %s: %d attempt(s) disturbed and run again", prefix, s.Name, sc.ID, len(r.Retries)))
			}
		}
		if s.Idle != nil && s.Idle.Error != "" {
			notes = append(notes, fmt.Sprintf("%s%s, idle: %s", prefix, s.Name, s.Idle.Error))
		}
		for _, p := range s.Problems {
			notes = append(notes, fmt.Sprintf("%s%s: %s", prefix, s.Name, p))
		}
		if s.LogLines > 0 {
			notes = append(notes, fmt.Sprintf("%s%s printed %d line(s) beyond its start line, last: %q", prefix, s.Name, s.LogLines, s.LogTail[len(s.LogTail)-1]))
		}
	}
	return notes
}

// printNotes lists what went wrong, in every section.
func printNotes(w io.Writer, rep *Report) {
	notes := serverNotes("", rep.Servers, scenarios)
	if rep.TLS != nil {
		notes = append(notes, serverNotes("TLS, ", rep.TLS.Servers, rep.TLS.Scenarios)...)
	}
	if rep.Compression != nil {
		notes = append(notes, compressionNotes(rep.Compression)...)
	}
	if rep.Fanout != nil {
		notes = append(notes, fanoutNotes(rep.Fanout)...)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Problems:")
		for _, n := range notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
}

// ---------------------------------------------------------------- compression

// printCompression prints, per scenario, msgs/s with permessage-deflate off
// and on, their ratio, and the compressed size ratios.
func printCompression(w io.Writer, c *Compression) {
	nameW := len("server")
	for _, s := range c.Servers {
		nameW = max(nameW, len([]rune(s.Label))+2)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Compression: 1 KiB JSON-like text echoed, permessage-deflate off vs on (* = libws; ! = loadgen saturated its core; ? = disturbed)")
	fmt.Fprintln(w, "on/off: msgs/s on over off; size: bytes on the wire over payload bytes, both directions; echo: the same, the server's echoes alone")
	const colW = 9
	cols := []string{"off", "on", "on/off", "size", "echo"}
	fmt.Fprint(w, padLeft("", nameW))
	for _, sc := range c.Scenarios {
		title := fmt.Sprintf("%d conns", sc.Conns)
		fmt.Fprint(w, "  "+padLeft("─── "+title+" "+strings.Repeat("─", max(0, colW*len(cols)-len([]rune(title))-6)), colW*len(cols)))
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, padLeft("server", nameW))
	for range c.Scenarios {
		fmt.Fprint(w, "  ")
		for _, col := range cols {
			fmt.Fprint(w, pad(col, colW))
		}
	}
	fmt.Fprintln(w)
	saturated, disturbed, declined := false, false, false
	cell := func(r *Result) string {
		switch {
		case r == nil:
			return "-"
		case r.Error != "":
			return "FAIL"
		}
		s := rate(r.MsgsPerSec)
		if r.LoadgenSaturated {
			s += "!"
			saturated = true
		}
		if r.Disturbed != "" {
			s += "?"
			disturbed = true
		}
		return s
	}
	for _, s := range c.Servers {
		if !rowHead(w, nameW, s.Label, s.Libws, s.Status, s.Note) {
			continue
		}
		for _, sc := range c.Scenarios {
			fmt.Fprint(w, "  ")
			r := s.Results[sc.ID]
			if r == nil {
				fmt.Fprint(w, pad("-", colW*len(cols)))
				continue
			}
			ratio, size, echo := "-", "-", "-"
			if r.OnOff > 0 {
				ratio = fmt.Sprintf("%.2f", r.OnOff)
			}
			switch {
			case r.On == nil || r.On.Error != "":
			case !r.Deflate:
				size, echo = "declined", ""
				declined = true
			default:
				size, echo = fmt.Sprintf("%.3f", r.WireRatio), fmt.Sprintf("%.3f", r.EchoRatio)
			}
			for _, v := range []string{cell(r.Off), cell(r.On), ratio, size, echo} {
				fmt.Fprint(w, pad(v, colW))
			}
		}
		fmt.Fprintln(w)
	}
	if declined {
		fmt.Fprintln(w, "declined: the server did not accept permessage-deflate, so \"on\" ran uncompressed")
	}
	if saturated {
		fmt.Fprintln(w, "! loadgen used more than 0.95 of its core: the server may do more than shown")
	}
	if disturbed {
		fmt.Fprintln(w, "? disturbed in every attempt: other work on the machine, low confidence")
	}
	// loadgen compresses its messages the same way for every server.
	for _, s := range c.Servers {
		for _, sc := range c.Scenarios {
			if r := s.Results[sc.ID]; r != nil && r.Deflate && r.SentRatio > 0 {
				fmt.Fprintf(w, "loadgen's own messages (compress/flate level 1, no context takeover) compress to %.3f of their size\n", r.SentRatio)
				return
			}
		}
	}
}

// compressionNotes lists what went wrong in the compression section.
func compressionNotes(c *Compression) []string {
	var notes []string
	for _, s := range c.Servers {
		if s.Status != "ok" {
			continue
		}
		for _, sc := range c.Scenarios {
			r := s.Results[sc.ID]
			if r == nil {
				continue
			}
			for _, m := range []struct {
				mode string
				r    *Result
			}{{"off", r.Off}, {"on", r.On}} {
				where := fmt.Sprintf("compression, %s, %s %s", s.Name, sc.ID, m.mode)
				switch {
				case m.r == nil:
				case m.r.Error != "":
					notes = append(notes, where+": "+m.r.Error)
				case m.r.Disturbed != "":
					notes = append(notes, where+": all attempts disturbed (kept the best): "+m.r.Disturbed)
				case len(m.r.Retries) > 0:
					notes = append(notes, fmt.Sprintf("%s: %d attempt(s) disturbed and run again", where, len(m.r.Retries)))
				}
			}
		}
		for _, p := range s.Problems {
			notes = append(notes, fmt.Sprintf("compression, %s: %s", s.Name, p))
		}
		if s.LogLines > 0 {
			notes = append(notes, fmt.Sprintf("compression, %s printed %d line(s) beyond its start line, last: %q", s.Name, s.LogLines, s.LogTail[len(s.LogTail)-1]))
		}
	}
	return notes
}

// rowHead starts a server's row of a table: its label, starred for libws;
// false when the server has no results (the row says why and ends).
func rowHead(w io.Writer, nameW int, label string, libws bool, status, note string) bool {
	name := "  " + label
	if libws {
		name = "* " + label
	}
	fmt.Fprint(w, padLeft(name, nameW))
	if status != "ok" {
		fmt.Fprintf(w, "  n/a (%s)\n", note)
		return false
	}
	return true
}
