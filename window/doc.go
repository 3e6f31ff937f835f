// Package window holds archives, aggregator state, lateness and window
// closing.
//
// An archive is a step (window length, whole seconds) and the aggregators it
// emits. Windows are tumbling and aligned to the Unix epoch. Points go only
// into the finest archive's windows; when a fine window closes, each series'
// aggregate is emitted for the finest archive and merged into the one open
// window every coarser archive keeps per series. So the work per point does
// not depend on the number of archives, and a coarse window is exactly the
// time-ordered merge of the finest windows it covers.
//
// Lateness is judged per input stream (Stream): a point is late when the
// finest window containing it ends at or before the stream's watermark, the
// highest valid timestamp the stream has delivered minus the allowed
// lateness. Windows close when the global watermark (the minimum over
// streams, computed by the caller) reaches their end (Store.Advance).
//
// Time is always an argument: nothing here reads the clock, starts a
// goroutine or does I/O. A Store belongs to one shard goroutine.
package window
