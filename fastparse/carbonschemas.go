package fastparse

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// storage-schemas.conf (FORMATS.md sections 4.2 and 4.3), read as
// metrictank reads it for its carbon input: sections
//
//	[name]
//	pattern = <regex>
//	retentions = <interval>:<ttl>[,<interval>:<ttl>...]
//	priority = <int>   (optional)
//
// are tried by priority (higher first, ties in file order) and the first
// whose unanchored RE2 pattern matches a metric path gives its raw
// interval: the first retention's interval. Everything else in a
// retention (ttl, chunk span, ...) and other keys are read past. A path
// that no section matches gets metrictank's default, 1s.

// CarbonSchema is one section of a storage-schemas.conf.
type CarbonSchema struct {
	Name     string
	Pattern  *regexp.Regexp
	Priority int
	Interval int64 // seconds: the first retention's interval
	Line     int   // of the section header
}

// CarbonSchemas is a parsed storage-schemas.conf, in match order.
type CarbonSchemas struct {
	Schemas []CarbonSchema
}

// DefaultCarbonInterval is metrictank's interval for a path no schema
// matches (its built-in "1s:1d:10m:2:true").
const DefaultCarbonInterval = 1

// ParseCarbonSchemas parses a storage-schemas.conf; file names it in
// errors ("storage-schemas.conf:12: ...").
func ParseCarbonSchemas(file string, r io.Reader) (*CarbonSchemas, error) {
	s := &CarbonSchemas{}
	var cur *CarbonSchema
	hasPattern, hasRet := false, false
	finish := func() error {
		if cur == nil {
			return nil
		}
		if !hasPattern || !hasRet {
			return fmt.Errorf("%s:%d: section [%s] needs both pattern and retentions", file, cur.Line, cur.Name)
		}
		s.Schemas = append(s.Schemas, *cur)
		return nil
	}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, fmt.Errorf("%s:%d: invalid section header %q", file, n, line)
			}
			if err := finish(); err != nil {
				return nil, err
			}
			cur = &CarbonSchema{Name: line[1 : len(line)-1], Line: n}
			hasPattern, hasRet = false, false
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: expected key = value, found %q", file, n, line)
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: %q before the first [section]", file, n, line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "pattern":
			re, err := regexp.Compile(val)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: pattern of [%s]: %w", file, n, cur.Name, err)
			}
			cur.Pattern, hasPattern = re, true
		case "retentions":
			first, _, _ := strings.Cut(val, ",")
			iv, err := retentionInterval(strings.TrimSpace(first))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: retentions of [%s]: %w", file, n, cur.Name, err)
			}
			for _, r := range strings.Split(val, ",")[1:] {
				if _, err := retentionInterval(strings.TrimSpace(r)); err != nil {
					return nil, fmt.Errorf("%s:%d: retentions of [%s]: %w", file, n, cur.Name, err)
				}
			}
			cur.Interval, hasRet = iv, true
		case "priority":
			p, err := strconv.Atoi(val)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: priority of [%s]: %q is not an integer", file, n, cur.Name, val)
			}
			cur.Priority = p
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := finish(); err != nil {
		return nil, err
	}
	sort.SliceStable(s.Schemas, func(i, j int) bool { return s.Schemas[i].Priority > s.Schemas[j].Priority })
	return s, nil
}

// Interval returns the raw interval (seconds) of a metric path and the
// name of the schema that gave it ("" for the default).
func (s *CarbonSchemas) Interval(path string) (int64, string) {
	for i := range s.Schemas {
		if s.Schemas[i].Pattern.MatchString(path) {
			return s.Schemas[i].Interval, s.Schemas[i].Name
		}
	}
	return DefaultCarbonInterval, ""
}

// retentionInterval returns the interval of one retention,
// "<interval>:<ttl>[:...]", in seconds. The legacy form
// "<secondsPerPoint>:<points>" gives the same: a plain number is seconds.
func retentionInterval(r string) (int64, error) {
	parts := strings.Split(r, ":")
	if len(parts) < 2 {
		return 0, fmt.Errorf("retention %q: want interval:ttl", r)
	}
	iv, err := carbonDuration(parts[0])
	if err != nil {
		return 0, fmt.Errorf("retention %q: %w", r, err)
	}
	if _, err := carbonDuration(parts[1]); err != nil {
		return 0, fmt.Errorf("retention %q: %w", r, err)
	}
	if iv <= 0 {
		return 0, fmt.Errorf("retention %q: interval must be positive", r)
	}
	return iv, nil
}

// carbonUnits are the duration units metrictank's parser accepts, in
// seconds; "mon" is 30 days, "y" 365.
var carbonUnits = map[string]int64{
	"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
	"m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
	"h": 3600, "hour": 3600, "hours": 3600,
	"d": 86400, "day": 86400, "days": 86400,
	"w": 7 * 86400, "week": 7 * 86400, "weeks": 7 * 86400,
	"mon": 30 * 86400, "month": 30 * 86400, "months": 30 * 86400,
	"y": 365 * 86400, "year": 365 * 86400, "years": 365 * 86400,
}

// carbonDuration parses "60", "10s", "1h30m", "2mon" into seconds.
func carbonDuration(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total int64
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n > 1<<40 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		j := i
		for j < len(s) && (s[j] < '0' || s[j] > '9') {
			j++
		}
		unit := s[i:j]
		mult := int64(1)
		if unit != "" {
			m, ok := carbonUnits[strings.ToLower(unit)]
			if !ok {
				return 0, fmt.Errorf("unknown duration unit %q (valid: s, m/min, h, d, w, mon, y)", unit)
			}
			mult = m
		} else if j < len(s) {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		total += n * mult
		s = s[j:]
	}
	return total, nil
}
