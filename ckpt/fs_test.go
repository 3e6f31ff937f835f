package ckpt_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rollupd/rollup/ckpt"
	"github.com/rollupd/rollup/ckpt/ckpttest"
)

func TestFSConformance(t *testing.T) {
	ckpttest.Run(t, ckpttest.Harness{
		New: func(t *testing.T) ckpt.Backend {
			b, err := ckpt.NewFS(filepath.Join(t.TempDir(), "ckpt"))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		PutTemp: func(t *testing.T, b ckpt.Backend, name string, data []byte) {
			if err := os.WriteFile(filepath.Join(b.Location(), name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		},
	})
}
