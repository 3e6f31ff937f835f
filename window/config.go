package window

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Aggregator is one aggregation function of an archive.
type Aggregator uint8

// The aggregators. first/last are the values with the smallest/largest
// timestamp in the window (ties: earlier/later arrival); avg is sum/count.
const (
	Sum Aggregator = iota
	Count
	Min
	Max
	First
	Last
	Avg
	numAggregators
)

var aggregatorNames = [numAggregators]string{"sum", "count", "min", "max", "first", "last", "avg"}

func (a Aggregator) String() string {
	if a < numAggregators {
		return aggregatorNames[a]
	}
	return "aggregator(" + strconv.Itoa(int(a)) + ")"
}

// ParseAggregator parses an aggregator name.
func ParseAggregator(s string) (Aggregator, error) {
	for i, n := range aggregatorNames {
		if n == s {
			return Aggregator(i), nil
		}
	}
	return 0, fmt.Errorf("unknown aggregator %q (valid: %s)", s, strings.Join(aggregatorNames[:], ", "))
}

// Archive is one resolution.
type Archive struct {
	Name        string // the step as the operator wrote it ("1m", "1d"); used in output
	Step        int64  // window length in seconds
	Aggregators []Aggregator
}

// ParseArchive parses "STEP:AGG[,AGG...]", e.g. "1m:sum,count,min,max".
func ParseArchive(spec string) (Archive, error) {
	stepStr, aggs, ok := strings.Cut(spec, ":")
	if !ok || aggs == "" {
		return Archive{}, fmt.Errorf("archive %q: want STEP:AGG[,AGG...], e.g. 1m:sum,count", spec)
	}
	step, err := ParseStep(stepStr)
	if err != nil {
		return Archive{}, fmt.Errorf("archive %q: %w", spec, err)
	}
	a := Archive{Name: stepStr, Step: step}
	for _, name := range strings.Split(aggs, ",") {
		agg, err := ParseAggregator(strings.TrimSpace(name))
		if err != nil {
			return Archive{}, fmt.Errorf("archive %q: %w", spec, err)
		}
		if slices.Contains(a.Aggregators, agg) {
			return Archive{}, fmt.Errorf("archive %q: aggregator %s listed twice", spec, agg)
		}
		a.Aggregators = append(a.Aggregators, agg)
	}
	return a, nil
}

// ParseStep parses a step: Go duration syntax plus "d" for days (24h) and
// "w" for weeks (7d), e.g.
// "10s", "1m", "1h30m", "1d", "1d12h". It must be a positive whole number of
// seconds.
func ParseStep(s string) (int64, error) {
	d, err := parseDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("step %q must be positive", s)
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("step %q is not a whole number of seconds", s)
	}
	return int64(d / time.Second), nil
}

// parseDuration is time.ParseDuration with "d" (24h) and "w" (7d) units.
func parseDuration(s string) (time.Duration, error) {
	if !strings.ContainsAny(s, "dw") {
		return time.ParseDuration(s)
	}
	// Split into number+unit terms and convert the day terms to hours.
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && !(rest[j] >= '0' && rest[j] <= '9' || rest[j] == '.') {
			j++
		}
		if i == 0 || j == i {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		num, unit := rest[:i], rest[i:j]
		var d time.Duration
		if unit == "d" || unit == "w" {
			hours := 24.0
			if unit == "w" {
				hours = 7 * 24
			}
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f*hours > 1<<32 {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
			d = time.Duration(f * hours * float64(time.Hour))
		} else {
			var err error
			if d, err = time.ParseDuration(num + unit); err != nil {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
		}
		total += d
		rest = rest[j:]
	}
	return total, nil
}

// Config configures the windows of an engine.
type Config struct {
	// Archives, in any order; Validate sorts them finest first.
	Archives []Archive
	// Lateness is how far behind its stream's newest point a point may be
	// and still count. Default 0.
	Lateness time.Duration
	// SeriesTTL: a series with no points for this long and no open data is
	// deleted. 0 means the coarsest step; negative disables expiry.
	SeriesTTL time.Duration
}

// Validate checks the configuration, sorts the archives finest first and
// fills defaults. Messages name the offending archive.
func (c *Config) Validate() error {
	if len(c.Archives) == 0 {
		return errors.New("no archive configured")
	}
	slices.SortStableFunc(c.Archives, func(a, b Archive) int { return int(a.Step - b.Step) })
	fine := c.Archives[0]
	for i, a := range c.Archives {
		if len(a.Aggregators) == 0 {
			return fmt.Errorf("archive %s has no aggregator", a.Name)
		}
		if i > 0 && a.Step == c.Archives[i-1].Step {
			return fmt.Errorf("archives %s and %s have the same step", c.Archives[i-1].Name, a.Name)
		}
		if a.Step%fine.Step != 0 {
			return fmt.Errorf("archive step %s is not a whole multiple of the finest step %s", a.Name, fine.Name)
		}
		if a.Step > 1<<40 {
			return fmt.Errorf("archive step %s is too long", a.Name)
		}
	}
	if c.Lateness < 0 {
		return fmt.Errorf("lateness %s is negative", c.Lateness)
	}
	if c.SeriesTTL == 0 {
		c.SeriesTTL = time.Duration(c.Archives[len(c.Archives)-1].Step) * time.Second
	}
	return nil
}

// FineStep returns the finest step in nanoseconds.
func (c *Config) FineStep() int64 { return c.Archives[0].Step * int64(time.Second) }
