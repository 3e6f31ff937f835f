package hdfs

import (
	"context"
	"errors"
	"fmt"
	"time"

	hdfsclient "github.com/colinmarc/hdfs/v2"
)

// The namenode refuses to go on with a file whose blocks the datanodes
// have not reported yet, and expects the client to retry:
//
//   - addBlock (starting block n+1) throws NotReplicatedYetException while
//     block n-1 is unreported;
//   - complete returns false while block n-1 is unreported (and then does
//     not even commit block n), or while block n is committed but
//     unreported.
//
// A datanode reports a finished block in its next incremental block report:
// at once by default, but clusters with many datanodes batch them
// (dfs.blockreport.incremental.intervalMsec, often some hundred
// milliseconds), and then both refusals are the rule for a file of more
// than one block, not a rare race. The Java client retries both calls
// naming the same block. colinmarc/hdfs retries neither, and a second
// FileWriter.Close names no block, which the namenode accepts only once
// block n is committed: after a refusal because of block n-1, every retry
// fails the same way. (Against the test cluster with reports batched every
// 300ms, the client alone left 20 of 20 files of 2 MiB + 3 bytes stuck
// in ErrReplicating and failed every file of 4 MiB + 3 bytes with
// NotReplicatedYetException; TestBatchedBlockReports runs that setup
// through the Backend.) So the retries are done here, with the block put
// back (see unsafe.go) so that each names it again.

// notReplicatedYet is the namenode's exception for the addBlock refusal.
const notReplicatedYet = "org.apache.hadoop.hdfs.server.namenode.NotReplicatedYetException"

// blockRetryTimeout bounds the retries of one refused call. The Java client
// gives up after 5 retries starting at 400ms and doubling (12.4s in all);
// a little more here, for a namenode that is busy rather than stuck.
const blockRetryTimeout = 30 * time.Second

func isNotReplicatedYet(err error) bool {
	var herr hdfsclient.Error
	return errors.As(err, &herr) && herr.Exception() == notReplicatedYet
}

// retrier paces the retries of one refused call.
type retrier struct {
	ctx      context.Context
	delay    time.Duration
	deadline time.Time
}

func newRetrier(ctx context.Context) *retrier {
	return &retrier{ctx: ctx, delay: 20 * time.Millisecond, deadline: time.Now().Add(blockRetryTimeout)}
}

// wait sleeps before the next retry; false means give up.
func (r *retrier) wait() bool {
	if time.Now().Add(r.delay).After(r.deadline) {
		return false
	}
	t := time.NewTimer(r.delay)
	defer t.Stop()
	select {
	case <-r.ctx.Done():
		return false
	case <-t.C:
	}
	r.delay = min(2*r.delay, time.Second)
	return true
}

// blockWriter writes to a FileWriter at most one block boundary per call,
// so that the block to put back after a refused addBlock is the one that
// was current when the call began.
type blockWriter struct {
	ctx       context.Context
	fw        *hdfsclient.FileWriter
	blockSize int64
	off       int64 // bytes written so far
}

func (w *blockWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := int64(len(p))
		if rest := w.blockSize - w.off%w.blockSize; n > rest {
			n = rest
		}
		m, err := w.writeInBlock(p[:n])
		written += m
		w.off += int64(m)
		p = p[m:]
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// writeInBlock writes p, which ends at the latest at the end of the current
// block. Filling the block makes the client start the next one, and that
// addBlock may be refused; the bytes are in the filled block by then, so
// the retry puts that block back and writes the rest of p (often nothing,
// in which case the next Write or the Close starts the next block, again
// from the restored one).
func (w *blockWriter) writeInBlock(p []byte) (int, error) {
	saved, ok := saveBlock(w.fw)
	n, err := w.fw.Write(p)
	if err == nil || !ok || !isNotReplicatedYet(err) {
		return n, err
	}
	r := newRetrier(w.ctx)
	for r.wait() {
		saved.restore()
		var m int
		m, err = w.fw.Write(p[n:])
		n += m
		if err == nil || !isNotReplicatedYet(err) {
			return n, err
		}
	}
	return n, fmt.Errorf("%w (still after %v: are the datanodes reporting their blocks to the namenode?)", err, blockRetryTimeout)
}

// closeFile closes fw: it finishes the last block and has the namenode
// complete the file, retrying while the namenode refuses (see above).
func closeFile(ctx context.Context, fw *hdfsclient.FileWriter) error {
	saved, named := saveBlock(fw)
	err := fw.Close()
	if err == nil || !hdfsclient.IsErrReplicating(err) {
		return err
	}
	// Was the last block committed? Unknown: the answer is false either
	// way. Name it again (the namenode then commits it once block n-1 is
	// reported); if it already is committed, the client's preparatory
	// updateBlockForPipeline call is refused, and from then on the plain
	// retry is the one that works.
	r := newRetrier(ctx)
	for r.wait() {
		if named {
			saved.restore()
			err = fw.Close()
			if err == nil {
				return nil
			}
			if hdfsclient.IsErrReplicating(err) {
				continue
			}
			named = false
			saved.forget()
		}
		err = fw.Close()
		if err == nil || !hdfsclient.IsErrReplicating(err) {
			return err
		}
	}
	if ctx.Err() != nil {
		return err
	}
	return fmt.Errorf("%w (still after %v: are the datanodes reporting their blocks to the namenode?)", err, blockRetryTimeout)
}
