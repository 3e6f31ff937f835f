package hdfs

import (
	"reflect"
	"unsafe"

	hdfsclient "github.com/colinmarc/hdfs/v2"
)

// colinmarc/hdfs v2.4.0 forgets a FileWriter's block once it has finished
// it (FileWriter.blockWriter = nil) even when the namenode call that
// follows fails with a condition the namenode expects the client to retry
// (see writer.go): the retry then names no block and can never succeed.
// savedBlock keeps that unexported pointer so that it can be put back
// before the retry, which then names the block again, as the Java client's
// retries do.
//
// Lifetime: a savedBlock belongs to the FileWriter it was taken from and
// is used only by the goroutine writing to it, between its calls.
type savedBlock struct {
	fw *hdfsclient.FileWriter
	bw reflect.Value // the field's value when saved
}

// blockWriterField is FileWriter.blockWriter, or nil when this version of
// the client has no such pointer field: then nothing is saved and the
// retries that need it fail as the client alone would.
var blockWriterField = func() *reflect.StructField {
	f, ok := reflect.TypeFor[hdfsclient.FileWriter]().FieldByName("blockWriter")
	if !ok || f.Type.Kind() != reflect.Pointer {
		return nil
	}
	return &f
}()

// field returns fw.blockWriter as a settable value.
func blockWriterOf(fw *hdfsclient.FileWriter) reflect.Value {
	v := reflect.ValueOf(fw).Elem().FieldByIndex(blockWriterField.Index)
	return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
}

// saveBlock saves fw's current block; ok is false when there is none to
// save (no block yet, or a client without the field).
func saveBlock(fw *hdfsclient.FileWriter) (s savedBlock, ok bool) {
	if blockWriterField == nil {
		return savedBlock{}, false
	}
	v := blockWriterOf(fw)
	if v.IsNil() {
		return savedBlock{}, false
	}
	saved := reflect.New(v.Type()).Elem()
	saved.Set(v)
	return savedBlock{fw: fw, bw: saved}, true
}

// restore makes the saved block fw's current one again.
func (s savedBlock) restore() { blockWriterOf(s.fw).Set(s.bw) }

// forget makes fw have no current block, as after a successful finish.
func (s savedBlock) forget() { blockWriterOf(s.fw).SetZero() }
