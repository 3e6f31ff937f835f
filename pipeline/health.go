package pipeline

import (
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FetchHealth watches the consumer's fetch responses: a broker that
// answers fetches (even empty ones, every fetch-max-wait) is reachable. It
// is a kgo hook: pass it to the consumer with kgo.WithHooks and to the
// Source in SourceConfig.Health. Metadata requests alone notice an outage
// only after the metadata interval plus their timeout, too late for a
// short idle timeout: the wall clock would close windows over records the
// stalled broker has not delivered yet.
type FetchHealth struct {
	lastOK atomic.Int64 // Unix ns of the last fetch answered without error
}

var _ kgo.HookBrokerRead = (*FetchHealth)(nil)

// OnBrokerRead records a fetch response read without error.
func (h *FetchHealth) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == int16(kmsg.Fetch) && err == nil {
		h.lastOK.Store(time.Now().UnixNano())
	}
}

// LastAnswer returns when a fetch was last answered (zero: never).
func (h *FetchHealth) LastAnswer() time.Time {
	if ns := h.lastOK.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}
