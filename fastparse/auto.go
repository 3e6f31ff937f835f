package fastparse

import "bytes"

// AutoDecoder tells the format of each buffer (a Kafka record) from its
// first byte or first line and decodes it with that format's decoder:
//
//   - a metrictank format byte (0x02-0x05) or the start of a msgpack map
//     (0x80-0x8f, or 0xde/0xdf then 0x00, which no UTF-8 text starts
//     with): metrictank kafka-mdm;
//   - "put " at the start: OpenTSDB;
//   - three whitespace-separated fields, the second and third numbers
//     (value, seconds): Graphite carbon;
//   - a second field holding '=' (the fields of line protocol): Influx.
//
// Anything else cannot be told apart and is not guessed: the buffer gives
// one line, an error of ReasonUnknownFormat. It implements Decoder.
type AutoDecoder struct {
	Influx     InfluxLines
	OpenTSDB   OpenTSDBDecoder
	Carbon     CarbonDecoder
	Metrictank MdmDecoder

	cur     Decoder
	unknown bool // the current buffer's format could not be told
	done    bool
	buf     []byte
	err     ParseError
}

var _ Decoder = (*AutoDecoder)(nil)

// Reset picks the format of buf and starts decoding it.
func (d *AutoDecoder) Reset(buf []byte, defaultTime int64) {
	d.buf, d.done, d.unknown = buf, false, false
	switch detectFormat(buf) {
	case "influx":
		d.cur = &d.Influx
	case "opentsdb":
		d.cur = &d.OpenTSDB
	case "carbon":
		d.cur = &d.Carbon
	case "metrictank":
		d.cur = &d.Metrictank
	default:
		d.cur, d.unknown = nil, true
		if len(bytes.TrimSpace(buf)) == 0 {
			d.done = true // nothing to tell apart, nothing to count
		}
		return
	}
	d.cur.Reset(buf, defaultTime)
}

// UseIndex gives the metrictank decoder the index of the partition
// decoded next.
func (d *AutoDecoder) UseIndex(x *MKeyIndex) { d.Metrictank.UseIndex(x) }

// Next moves to the next line; an unknown buffer is one bad line.
func (d *AutoDecoder) Next() bool {
	if d.unknown {
		if d.done {
			return false
		}
		d.done = true
		e := &d.err
		*e = ParseError{Line: 1, Col: 1, Reason: ReasonUnknownFormat,
			Msg: "cannot tell the input format (metrictank, influx, opentsdb or carbon) from the first line", found: foundNone}
		first := d.buf
		if i := bytes.IndexByte(first, '\n'); i >= 0 {
			first = first[:i]
		}
		e.hasQuote = true
		e.quoteTrunc = len(first) > maxQuote
		e.quoteLen = uint8(copy(e.quote[:], first))
		return true
	}
	return d.cur.Next()
}

// Err returns the current line's error.
func (d *AutoDecoder) Err() *ParseError {
	if d.unknown {
		return &d.err
	}
	return d.cur.Err()
}

func (d *AutoDecoder) LineOffset() int {
	if d.unknown {
		return 0
	}
	return d.cur.LineOffset()
}

func (d *AutoDecoder) Measurement() []byte {
	if d.unknown {
		return nil
	}
	return d.cur.Measurement()
}

func (d *AutoDecoder) Tags() []Tag {
	if d.unknown {
		return nil
	}
	return d.cur.Tags()
}

func (d *AutoDecoder) Fields() []Field {
	if d.unknown {
		return nil
	}
	return d.cur.Fields()
}

func (d *AutoDecoder) Time() int64 {
	if d.unknown {
		return 0
	}
	return d.cur.Time()
}

// detectFormat names the format of buf's first non-blank line, or "".
func detectFormat(buf []byte) string {
	if len(buf) > 0 {
		switch c := buf[0]; {
		case c >= MdmMetricPoint && c <= MdmMetricPointArray, c >= 0x80 && c <= 0x8f:
			return "metrictank"
		case (c == 0xde || c == 0xdf) && len(buf) > 1 && buf[1] == 0:
			return "metrictank" // map16, map32 with fewer than 256 entries
		}
	}
	line := buf
	comments := false
	for len(line) > 0 {
		i := bytes.IndexByte(line, '\n')
		first := line
		if i >= 0 {
			first, line = line[:i], line[i+1:]
		} else {
			line = nil
		}
		first = bytes.TrimSpace(first)
		if len(first) == 0 {
			continue
		}
		if first[0] == '#' { // an Influx comment
			comments = true
			continue
		}
		if bytes.HasPrefix(first, []byte("put ")) {
			return "opentsdb"
		}
		if len(first) > 0 && (first[0] < 0x20 || first[0] >= 0x80) {
			return "" // binary (metrictank) or garbage
		}
		f := bytes.Fields(first)
		if len(f) >= 2 && bytes.IndexByte(f[1], '=') > 0 {
			return "influx"
		}
		if len(f) == 3 {
			if _, ok := carbonValue(f[1]); ok {
				if _, ok := carbonTime(f[2]); ok {
					return "carbon"
				}
			}
		}
		return ""
	}
	if comments {
		return "influx" // only comments: nothing to count
	}
	return ""
}
