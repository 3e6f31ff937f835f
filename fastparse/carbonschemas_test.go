package fastparse

import (
	"strings"
	"testing"
)

const sampleSchemas = `# metrictank style
[carbon]
pattern = ^carbon\.
retentions = 60:90d

[fast]
pattern = \.fast\.
retentions = 10s:1d:10min:2:true,1min:30d
priority = 5

[default_1min_for_1day]
pattern = .*
retentions = 1m:1d,1h30m:1y
`

func TestCarbonSchemas(t *testing.T) {
	s, err := ParseCarbonSchemas("storage-schemas.conf", strings.NewReader(sampleSchemas))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path     string
		interval int64
		schema   string
	}{
		{"carbon.agents.a", 60, "carbon"},
		{"carbon.x.fast.y", 10, "fast"}, // priority 5 comes before carbon
		{"servers.web01.cpu", 60, "default_1min_for_1day"},
	} {
		iv, name := s.Interval(c.path)
		if iv != c.interval || name != c.schema {
			t.Errorf("%s: %d from %q, want %d from %q", c.path, iv, name, c.interval, c.schema)
		}
	}
	none, _ := ParseCarbonSchemas("x", strings.NewReader(""))
	if iv, name := none.Interval("a.b"); iv != DefaultCarbonInterval || name != "" {
		t.Errorf("no schema: %d %q", iv, name)
	}
}

func TestCarbonSchemasErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"[a]\npattern = (\nretentions = 1m:1d\n", "s.conf:2: pattern of [a]: error parsing regexp: missing closing ): `(`"},
		{"[a]\npattern = x\nretentions = 1x:1d\n", `s.conf:3: retentions of [a]: retention "1x:1d": unknown duration unit "x" (valid: s, m/min, h, d, w, mon, y)`},
		{"[a]\npattern = x\nretentions = 60\n", `s.conf:3: retentions of [a]: retention "60": want interval:ttl`},
		{"[a]\npattern = x\n", "s.conf:1: section [a] needs both pattern and retentions"},
		{"pattern = x\n", `s.conf:1: "pattern = x" before the first [section]`},
		{"[a\n", `s.conf:1: invalid section header "[a"`},
		{"[a]\npattern x\n", `s.conf:2: expected key = value, found "pattern x"`},
		{"[a]\npattern = x\nretentions = 1m:1d,5q:1y\n", `s.conf:3: retentions of [a]: retention "5q:1y": unknown duration unit "q" (valid: s, m/min, h, d, w, mon, y)`},
	} {
		_, err := ParseCarbonSchemas("s.conf", strings.NewReader(c.in))
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: %v\nwant %s", c.in, err, c.want)
		}
	}
	for in, want := range map[string]int64{"60": 60, "10s": 10, "1h30m": 5400, "2mon": 60 * 86400, "1y": 365 * 86400, "1Min": 60} {
		if got, err := carbonDuration(in); err != nil || got != want {
			t.Errorf("carbonDuration(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
