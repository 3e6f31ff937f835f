// Package ckpt holds the checkpoint file format and the backends that
// store checkpoint files (FS here; HDFS in ckpt/hdfs, so that this package
// stays standard library only).
package ckpt
