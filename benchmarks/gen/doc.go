// Package gen generates deterministic Telegraf-shaped line protocol: the
// data model of the benchmarks, `rollup generate` and (later) `rollup bench`.
//
// Each host reports, every interval, the measurements Telegraf's default
// inputs produce (cpu per core and total, mem, disk per mount, diskio per
// device, net per interface, system) with 3 to 6 tags and 3 to 10 numeric
// fields each, floats written the way Telegraf's serializer writes them
// (shortest form, no exponent) and integers with the i suffix. A series is
// one numeric field of one measurement and tag set, as rollups see it.
//
// Output is a pure function of Config: the same config gives the same bytes.
package gen
