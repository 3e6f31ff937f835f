package gen

import (
	"bytes"
	"testing"
	"time"
)

func TestDeterministicAndShaped(t *testing.T) {
	cfg := Config{Hosts: 3, Seed: 7}
	a := NewTelegraf(cfg).AppendInterval(nil)
	b := NewTelegraf(cfg).AppendInterval(nil)
	if !bytes.Equal(a, b) {
		t.Fatal("same config gave different bytes")
	}
	g := NewTelegraf(cfg)
	if g.SeriesPerHost() != 90 {
		t.Fatalf("series per host = %d, want 90", g.SeriesPerHost())
	}
	lines := bytes.Split(bytes.TrimSuffix(a, []byte("\n")), []byte("\n"))
	if len(lines) != 3*11 {
		t.Fatalf("lines = %d, want 33", len(lines))
	}
	points := 0
	for _, l := range lines {
		parts := bytes.Split(l, []byte(" "))
		if len(parts) != 3 {
			t.Fatalf("line %q: want 3 space-separated parts", l)
		}
		tags := bytes.Split(parts[0], []byte(","))[1:]
		if len(tags) < 3 || len(tags) > 6 {
			t.Fatalf("line %q: %d tags", l, len(tags))
		}
		for i := 1; i < len(tags); i++ {
			if bytes.Compare(tags[i-1], tags[i]) >= 0 {
				t.Fatalf("line %q: tags not sorted", l)
			}
		}
		n := len(bytes.Split(parts[1], []byte(",")))
		if n < 3 || n > 10 {
			t.Fatalf("line %q: %d fields", l, n)
		}
		points += n
		if string(parts[2]) != "1700000000000000000" {
			t.Fatalf("line %q: timestamp %s", l, parts[2])
		}
	}
	if points != 3*90 {
		t.Fatalf("points = %d, want 270", points)
	}
	g.AppendInterval(nil)
	if got := g.Time(); !got.Equal(DefaultStart.Add(10 * time.Second)) {
		t.Fatalf("next interval time = %v", got)
	}
}
