package emit

// carbonEncoder writes Graphite carbon plaintext, one line per rollup:
//
//	cpu_usage_idle.sum.1m;host=h1 512.5 1700000040\n
//
// The path is the metric, the aggregator and (unless the naming leaves it
// out) the archive step joined by '.'; the series' tags follow in
// Graphite's tagged form (";key=value" each). The timestamp is the window
// start in seconds. What metrictank's carbon input would reject or
// misread is dropped and counted as carbon_bad_name: whitespace, NUL or a
// byte >= 0x80 anywhere, ';' in the metric or a '.' starting it, ';' or
// '=' in a tag key, ';' in a tag value, an empty key or value, a start
// outside 0..2^32-1.
type carbonEncoder struct {
	step bool // append the step to the path
}

func (e carbonEncoder) Append(dst []byte, r *Rollup) ([]byte, DropReason) {
	return appendOne(e, dst, r)
}

// Framing: lines end themselves.
func (carbonEncoder) Framing() Framing { return Framing{} }

func (e carbonEncoder) AppendWindow(dst []byte, w *Window, sep []byte, drops []uint64) ([]byte, int) {
	metric, tags, ok := carbonSeries(w)
	// A leading '.' is dropped by the reader: the name would change.
	if !ok || !carbonNameOK(metric, ";") || metric[0] == '.' || w.Start < 0 || w.Start >= 1<<32 {
		drops[DropCarbonBadName] += uint64(len(w.Values))
		return dst, 0
	}
	n := 0
	var written writtenValues
	for _, v := range w.Values {
		if !isFinite(v.Value) {
			drops[DropNonFinite]++
			continue
		}
		dst = append(dst, metric...)
		dst = append(dst, '.')
		dst = append(dst, v.Aggregator...)
		if e.step {
			dst = append(dst, '.')
			dst = append(dst, w.Step...)
		}
		dst = append(dst, tags...)
		dst = append(dst, ' ')
		dst = written.append(dst, v.Value, appendFloatG)
		dst = append(dst, ' ')
		dst = append(dst, w.StartText()...)
		dst = append(dst, '\n')
		dst = append(dst, sep...)
		n++
	}
	return dst, n
}

// carbonSeries returns the window's metric, its tags in Graphite's tagged
// form (";key=value" each) and whether metrictank would take them. The
// tags come from the window's tail cache when the previous window had the
// same ones, as the fields of one line do.
func carbonSeries(w *Window) (metric, tags []byte, ok bool) {
	metric, t, hit := w.tailFor(tailCarbon, 0)
	if !hit {
		w.Split()
		metric = w.Metric
		for _, tg := range w.Tags {
			if !carbonNameOK(tg.Key, ";=") || !carbonNameOK(tg.Value, ";") {
				t.reason = DropCarbonBadName
			}
			t.bytes = append(t.bytes, ';')
			t.bytes = append(t.bytes, tg.Key...)
			t.bytes = append(t.bytes, '=')
			t.bytes = append(t.bytes, tg.Value...)
		}
	}
	return metric, t.bytes, t.reason == DropNone
}

// carbonBad marks the bytes no carbon name may hold: whitespace, NUL and
// bytes >= 0x80 (metrictank's rules).
var carbonBad = func() (t [256]bool) {
	for _, c := range []byte(" \t\v\f\r\n\x00") {
		t[c] = true
	}
	for c := 0x80; c < 256; c++ {
		t[c] = true
	}
	return t
}()

func carbonNameOK(s []byte, also string) bool {
	if len(s) == 0 {
		return false
	}
	for _, c := range s {
		if carbonBad[c] {
			return false
		}
		for i := 0; i < len(also); i++ {
			if c == also[i] {
				return false
			}
		}
	}
	return true
}
