package gen

import (
	"strconv"
	"time"
)

// Config sets the shape of the generated traffic.
type Config struct {
	Hosts    int           // number of hosts; series = Hosts * SeriesPerHost
	Start    time.Time     // timestamp of the first interval (default 2023-11-14T22:13:20Z)
	Interval time.Duration // time between reports (default 10s)
	Seed     uint64        // varies the values, not the shape
}

// DefaultStart is the default first timestamp (Unix 1700000000).
var DefaultStart = time.Unix(1700000000, 0).UTC()

type fieldKind uint8

const (
	floatPercent fieldKind = iota // 0..100, long shortest-form decimals
	floatLoad                     // 0..64
	intGauge                      // large slowly moving integers
	intCounter                    // monotonically increasing integers
)

type field struct {
	name string
	kind fieldKind
}

type measurement struct {
	name   string
	tags   []string // extra tag keys besides host, dc, rack (values per instance)
	inst   [][]string
	fields []field
}

func fields(kind fieldKind, names ...string) []field {
	f := make([]field, len(names))
	for i, n := range names {
		f[i] = field{n, kind}
	}
	return f
}

// measurements mirrors Telegraf's cpu, mem, disk, diskio, net and system
// inputs; instances give the per-core, per-mount, per-device and
// per-interface lines.
var measurements = []measurement{
	{name: "cpu", tags: []string{"cpu"}, inst: [][]string{{"cpu-total"}, {"cpu0"}, {"cpu1"}},
		fields: fields(floatPercent, "usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
			"usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice")},
	{name: "mem", inst: [][]string{{}},
		fields: append(fields(intGauge, "total", "available", "used", "free", "cached", "buffered"),
			fields(floatPercent, "used_percent", "available_percent")...)},
	{name: "disk", tags: []string{"device", "fstype", "path"},
		inst: [][]string{{"sda1", "ext4", "/"}, {"sdb1", "xfs", "/var/lib/data"}},
		fields: append(append(fields(intGauge, "total", "free", "used"), fields(floatPercent, "used_percent")...),
			fields(intGauge, "inodes_total", "inodes_free", "inodes_used")...)},
	{name: "diskio", tags: []string{"name"}, inst: [][]string{{"sda"}, {"sdb"}},
		fields: append(fields(intCounter, "reads", "writes", "read_bytes", "write_bytes", "read_time", "write_time", "io_time"),
			fields(intGauge, "iops_in_progress")...)},
	{name: "net", tags: []string{"interface"}, inst: [][]string{{"eth0"}, {"eth1"}},
		fields: fields(intCounter, "bytes_sent", "bytes_recv", "packets_sent", "packets_recv", "err_in", "err_out", "drop_in", "drop_out")},
	{name: "system", inst: [][]string{{}},
		fields: append(fields(floatLoad, "load1", "load5", "load15"), fields(intGauge, "n_users", "n_cpus", "uptime")...)},
}

// Telegraf generates one interval of traffic at a time.
type Telegraf struct {
	cfg      Config
	interval int64 // number of intervals generated so far
	hostTags [][]byte
	state    []float64 // per series: current value
	rng      uint64
	perHost  int
}

// NewTelegraf returns a generator; zero Config fields take defaults.
func NewTelegraf(cfg Config) *Telegraf {
	if cfg.Hosts <= 0 {
		cfg.Hosts = 1
	}
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	g := &Telegraf{cfg: cfg, rng: cfg.Seed*0x9e3779b97f4a7c15 + 1}
	for _, m := range measurements {
		g.perHost += len(m.inst) * len(m.fields)
	}
	for h := 0; h < cfg.Hosts; h++ {
		// Tags sorted by key as Telegraf writes them: dc < host < rack.
		t := "dc=dc" + strconv.Itoa(h%4) + ",host=host-" + pad(h) + ",rack=r" + strconv.Itoa(h%97)
		g.hostTags = append(g.hostTags, []byte(t))
	}
	g.state = make([]float64, cfg.Hosts*g.perHost)
	for i := range g.state {
		g.state[i] = float64(g.next() % 1000000)
	}
	return g
}

func pad(h int) string {
	s := strconv.Itoa(h)
	for len(s) < 5 {
		s = "0" + s
	}
	return s
}

// next is splitmix64: fast, deterministic, good enough for test data.
func (g *Telegraf) next() uint64 {
	g.rng += 0x9e3779b97f4a7c15
	z := g.rng
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// unit returns a float in [0, 1).
func (g *Telegraf) unit() float64 { return float64(g.next()>>11) / (1 << 53) }

// SeriesPerHost is the number of series each host reports.
func (g *Telegraf) SeriesPerHost() int { return g.perHost }

// Series is the number of distinct series generated.
func (g *Telegraf) Series() int { return g.perHost * g.cfg.Hosts }

// PointsPerInterval is the number of points (field values) per interval.
func (g *Telegraf) PointsPerInterval() int { return g.Series() }

// Time returns the timestamp of the next interval.
func (g *Telegraf) Time() time.Time {
	return g.cfg.Start.Add(time.Duration(g.interval) * g.cfg.Interval)
}

// AppendInterval appends the lines of every host for the next interval.
func (g *Telegraf) AppendInterval(dst []byte) []byte {
	for h := range g.cfg.Hosts {
		dst = g.AppendHost(dst, h)
	}
	g.interval++
	return dst
}

// AppendHost appends the lines of one host for the current interval (call
// Advance after all hosts when not using AppendInterval).
func (g *Telegraf) AppendHost(dst []byte, h int) []byte {
	ts := g.Time().UnixNano()
	si := h * g.perHost
	for mi := range measurements {
		m := &measurements[mi]
		for _, inst := range m.inst {
			dst = append(dst, m.name...)
			dst = append(dst, ',')
			// Merge the instance tags into the sorted host tags.
			dst = appendSortedTags(dst, g.hostTags[h], m.tags, inst)
			dst = append(dst, ' ')
			for fi, f := range m.fields {
				if fi > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, f.name...)
				dst = append(dst, '=')
				dst = g.appendValue(dst, f.kind, &g.state[si])
				si++
			}
			dst = append(dst, ' ')
			dst = strconv.AppendInt(dst, ts, 10)
			dst = append(dst, '\n')
		}
	}
	return dst
}

// Advance moves to the next interval (AppendInterval does this itself).
func (g *Telegraf) Advance() { g.interval++ }

func (g *Telegraf) appendValue(dst []byte, k fieldKind, st *float64) []byte {
	switch k {
	case floatPercent:
		// Ratios of counters, as Telegraf computes them: long decimals.
		v := g.unit() * 100
		return strconv.AppendFloat(dst, v, 'f', -1, 64)
	case floatLoad:
		v := float64(int(g.unit()*6400)) / 100
		return strconv.AppendFloat(dst, v, 'f', -1, 64)
	case intGauge:
		*st += float64(int64(g.next()%2001) - 1000)
		if *st < 0 {
			*st = 0
		}
	case intCounter:
		*st += float64(g.next() % 5000)
	}
	dst = strconv.AppendInt(dst, int64(*st), 10)
	return append(dst, 'i')
}

// appendSortedTags writes host tags (already sorted: dc, host, rack) merged
// with the instance tags in key order.
func appendSortedTags(dst, hostTags []byte, keys, vals []string) []byte {
	// Host tag keys are dc, host, rack; instance keys sort among them.
	type kv struct{ k, v string }
	var all [8]kv
	n := 0
	for i, k := range keys {
		all[n] = kv{k, vals[i]}
		n++
	}
	// Insertion-sort the few instance tags; they are few and fixed.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && all[j].k < all[j-1].k; j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	// Split host tags into the three pairs.
	var host [3][]byte
	start, hi := 0, 0
	for i := 0; i <= len(hostTags); i++ {
		if i == len(hostTags) || hostTags[i] == ',' {
			host[hi] = hostTags[start:i]
			hi++
			start = i + 1
		}
	}
	hostKeys := [3]string{"dc", "host", "rack"}
	first := true
	sep := func() {
		if !first {
			dst = append(dst, ',')
		}
		first = false
	}
	i := 0
	for h := 0; h < 3; h++ {
		for i < n && all[i].k < hostKeys[h] {
			sep()
			dst = append(append(append(dst, all[i].k...), '='), all[i].v...)
			i++
		}
		sep()
		dst = append(dst, host[h]...)
	}
	for ; i < n; i++ {
		sep()
		dst = append(append(append(dst, all[i].k...), '='), all[i].v...)
	}
	return dst
}
