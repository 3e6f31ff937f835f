package fastparse

import "bytes"

// OpenTSDB puts keyed by metric name, as Conversant published them to
// Kafka (FORMATS.md section 5, marked unconfirmed there): the record key
// is the metric name and the value "everything else: the timestamp, tags,
// and metric value" as bare strings. The blog does not show the order of
// the words, so both are read:
//
//	<timestamp> <value> <tagk=tagv>...     (a put line without "put <metric>")
//	<timestamp> <tagk=tagv>... <value>     (the order the blog names them in)
//
// The first word is the timestamp, words holding '=' are tags, and exactly
// one other word is the value. Each line of a value is one point of the
// key's metric, checked exactly as OpenTSDBDecoder checks a put line.

// OpenTSDBKeyedDecoder decodes keyed OpenTSDB puts; it implements Decoder
// and KeyUser (the pipeline hands it each record's key).
type OpenTSDBKeyedDecoder struct {
	OpenTSDBDecoder
	key  []byte
	line []byte // the put line the current line stands for
}

var _ Decoder = (*OpenTSDBKeyedDecoder)(nil)

// KeyUser is a decoder that reads part of each point from the Kafka record
// key: the pipeline calls SetKey before Reset for every record.
type KeyUser interface {
	SetKey(key []byte)
}

// SetKey sets the metric of the next record's points.
func (d *OpenTSDBKeyedDecoder) SetKey(key []byte) { d.key = key }

// Next decodes the next non-empty line; false at the end of the buffer.
func (d *OpenTSDBKeyedDecoder) Next() bool {
	content, ok := d.nextContent()
	if ok {
		d.decodeKeyed(content)
	}
	return ok
}

func (d *OpenTSDBKeyedDecoder) decodeKeyed(content []byte) {
	if len(d.key) == 0 {
		d.fail(d.start, ReasonSyntax, "record has no key: the key must be the metric name", nil)
		return
	}
	if bytes.IndexAny(d.key, " \r\n") >= 0 {
		d.fail(d.start, ReasonSyntax, "record key (the metric name) holds a space or line break:", d.key)
		return
	}
	// Put the words in put-line order: timestamp, value, tags.
	ts, j := word(content, 0)
	rest := content[j:]
	value, reordered := []byte(nil), false
	for i, seen := 0, 0; i < len(rest); {
		w, next := word(rest, i)
		if len(w) > 0 && bytes.IndexByte(w, '=') < 0 {
			if value != nil {
				d.fail(d.start+len(content)-len(rest)+i, ReasonSyntax, "a second word that is not a tag (want one value), found", w)
				return
			}
			value, reordered = w, seen > 0
		}
		if len(w) > 0 {
			seen++
		}
		i = next
	}
	d.line = append(append(append(d.line[:0], "put "...), d.key...), ' ')
	prefix := len(d.line)
	if !reordered {
		d.line = append(d.line, content...)
	} else {
		d.line = append(append(append(append(d.line, ts...), ' '), value...), ' ')
		for i := 0; i < len(rest); {
			w, next := word(rest, i)
			if bytes.IndexByte(w, '=') > 0 {
				d.line = append(append(d.line, w...), ' ')
			}
			i = next
		}
		d.line = d.line[:len(d.line)-1]
	}
	d.decodeLine(d.line)
	if !d.failed {
		return
	}
	// Errors were positioned in the put line: move them into the record
	// (to the line's start where the key or a reordered word is at fault).
	e := &d.err
	rel := e.Offset - d.start - prefix
	if rel < 0 || reordered {
		rel = 0
	}
	e.Offset, e.Col = d.start+rel, rel+1
}
