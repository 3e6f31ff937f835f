package pipeline

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rollupd/rollup/fastparse"
)

// One line with more fields than MaxFieldsPerLine cannot create series:
// it is skipped and counted with its position, the lines around it count.
// A record larger than MaxLineBytes is skipped whole and counted.
func TestLineAndRecordLimits(t *testing.T) {
	cfg := testConfig(t, 2, 0, "1m:sum")
	cfg.MaxFieldsPerLine, cfg.MaxLineBytes = 3, 200
	cfg.MaxFuture = 100 * 365 * 24 * time.Hour
	var out bytes.Buffer
	e, err := New(cfg, &out)
	if err != nil {
		t.Fatal(err)
	}
	s := e.NewRouter()
	var errs []string
	s.OnMalformed = func(pe *fastparse.ParseError) { errs = append(errs, fmt.Sprintf("%s %s", pe.Reason, pe.Error())) }
	s.Use(e.NewPartition())
	s.FeedRecord([]byte("m a=1,b=2,c=3 1700000000000000000\nm a=1,b=2,c=3,d=4 1700000000000000000\nn x=5 1700000000000000000\n"), 1, 0)
	s.FeedRecord([]byte("m a=1 1700000000000000000 "+strings.Repeat("#", 200)), 1, 0)
	s.Flush()
	e.Close()
	c := e.Counters()
	if c.Points != 4 || c.Series != 4 || c.Malformed[fastparse.ReasonTooManyFields] != 1 || c.Malformed[fastparse.ReasonRecordTooLarge] != 1 {
		t.Fatalf("points %d series %d too_many_fields %d record_too_large %d", c.Points, c.Series,
			c.Malformed[fastparse.ReasonTooManyFields], c.Malformed[fastparse.ReasonRecordTooLarge])
	}
	want := []string{
		"too_many_fields line 2:1: line has more fields than --max-fields-per-line: skipped",
		"record_too_large line 1:1: record larger than the 16 MiB line limit: skipped whole",
	}
	if strings.Join(errs, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors:\n%s\nwant\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
}

// Lag is the records between the next offset to process and the high
// watermark of the last fetch; unknown (-1) before either is known.
func TestPartitionLag(t *testing.T) {
	src := &Source{}
	for _, c := range []struct{ next, hwm, want int64 }{{7, 10, 3}, {10, 10, 0}, {0, 1, 1}, {-1, 10, -1}, {5, -1, -1}} {
		ps := &PartitionState{Topic: "t"}
		ps.next.Store(c.next)
		ps.hwm.Store(c.hwm)
		src.order = []*PartitionState{ps}
		if got := src.Partitions()[0].Lag; got != c.want {
			t.Errorf("next %d, high watermark %d: lag %d, want %d", c.next, c.hwm, got, c.want)
		}
	}
}
