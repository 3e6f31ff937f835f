package fastparse_test

import (
	"fmt"

	"github.com/rollupd/rollup/fastparse"
)

func ExampleInfluxDecoder() {
	buf := []byte(`# Telegraf output
cpu,host=a,cpu=cpu0 usage_idle=98.5,procs=12i 1700000000
disk,host=a free=oops 1700000000
net,interface=eth\ 0 up=true,name="eth \"zero\""
`)
	var d fastparse.InfluxDecoder
	d.Reset(buf, 1700000060e9, fastparse.Second)
	for d.Next() {
		if err := d.Err(); err != nil {
			fmt.Printf("rejected (%s): %v\n", err.Reason, err)
			continue
		}
		fmt.Printf("%s", d.Measurement())
		for _, t := range d.Tags() { // sorted by key
			fmt.Printf(" %s=%s", t.Key, t.Value)
		}
		for _, f := range d.Fields() {
			if f.Kind == fastparse.FieldString {
				fmt.Printf(" %s=%q", f.Key, fastparse.AppendUnescapedString(nil, f.Str))
				continue
			}
			v, _ := f.Number()
			fmt.Printf(" %s=%v", f.Key, v)
		}
		fmt.Printf(" @%d (explicit: %v)\n", d.Time(), d.HasTime())
	}
	// Output:
	// cpu cpu=cpu0 host=a usage_idle=98.5 procs=12 @1700000000000000000 (explicit: true)
	// rejected (syntax): line 3:18: expected field value (number, boolean or quoted string) after field key "free", found 'o'
	// net interface=eth 0 up=1 name="eth \"zero\"" @1700000060000000000 (explicit: false)
}
