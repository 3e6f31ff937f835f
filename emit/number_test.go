package emit

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// edgeFloats are the values where formatting changes shape: the 'f'/'e'
// switch points of encoding/json, the int64 edges that decide OpenTSDB's
// integer path, signed zeros, denormals and the extremes.
func edgeFloats() []float64 {
	vs := []float64{
		0, math.Copysign(0, -1), 1, -1, 0.1, 0.5, 1.5, 12.5, 100, 1e6, 123456789.125,
		1e-6, 1e-7, 1e-9, 1e-10, 1e-99, 1e-100, 1e-300, 1e-320,
		1e15, 1e16, 1e17, 1e20, 1e21, 1e22, 1e99, 1e100, 1e300,
		math.MaxFloat64, math.SmallestNonzeroFloat64, 2.2250738585072014e-308, // smallest normal
		1 << 53, 1<<53 + 2, 1 << 62, 9223372036854774784, 1 << 63, -(1 << 63), 1 << 64,
		math.MaxInt32, math.MaxUint32, 4294967296.5,
		1.0 / 3, 2.0 / 3, math.Pi, math.E, 5e-324, 123e-9, 0.000001, 0.0000001,
	}
	var out []float64
	for _, v := range vs {
		out = append(out, v, -v,
			math.Nextafter(v, math.Inf(1)), math.Nextafter(v, math.Inf(-1)))
	}
	return out
}

// randomFloats mixes uniformly random bit patterns (every exponent equally
// likely) with "human" values: integers, short decimals, powers of ten, and
// integers of every size around 2^53.
func randomFloats(n int) []float64 {
	rng := rand.New(rand.NewPCG(1, 2)) // fixed seed: failures reproduce
	out := make([]float64, 0, n)
	for len(out) < n {
		switch rng.IntN(5) {
		case 0:
			out = append(out, math.Float64frombits(rng.Uint64()))
		case 1:
			out = append(out, float64(rng.Int64())/math.Pow(2, float64(rng.IntN(64))))
		case 2:
			out = append(out, float64(rng.Int64N(2_000_000)-1_000_000)/math.Pow10(rng.IntN(10)))
		case 3:
			out = append(out, math.Pow10(rng.IntN(640)-330)*float64(1+rng.IntN(9)))
		case 4: // appendJSONFloat's integer path, up to and past its 2^53 edge
			out = append(out, float64(rng.Int64N(1<<55)-1<<54))
		}
	}
	return out
}

// TestJSONFloatMatchesEncodingJSON is the property test for number.go: for
// every finite float64 tried, appendJSONFloat gives exactly the bytes
// json.Marshal gives.
func TestJSONFloatMatchesEncodingJSON(t *testing.T) {
	n := 500_000
	if testing.Short() {
		n = 20_000
	}
	vs := append(edgeFloats(), randomFloats(n)...)
	var buf []byte
	for _, v := range vs {
		if !isFinite(v) {
			continue
		}
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%v): %v", v, err)
		}
		buf = appendJSONFloat(buf[:0], v)
		if string(buf) != string(want) {
			t.Fatalf("appendJSONFloat(%v) [bits %#x] = %s, encoding/json writes %s", v, math.Float64bits(v), buf, want)
		}
	}
}

// TestOpenTSDBValue checks that every finite value is written so that the
// TSD's parse (see javaParseValue) neither throws nor changes it, and that
// integral values in int64 range take the integer path.
func TestOpenTSDBValue(t *testing.T) {
	n := 500_000
	if testing.Short() {
		n = 20_000
	}
	vs := append(edgeFloats(), randomFloats(n)...)
	var buf []byte
	for _, v := range vs {
		if !isFinite(v) {
			continue
		}
		buf = appendOpenTSDBValue(buf[:0], v)
		got, ok := javaParseValue(string(buf))
		if !ok || got != v {
			t.Fatalf("value %v [bits %#x] written as %q: Java reads %v (ok=%v)", v, math.Float64bits(v), buf, got, ok)
		}
		integral := v == math.Trunc(v) && v >= -(1<<63) && v < 1<<63
		if isInt := !strings.ContainsAny(string(buf), ".eE"); isInt != integral {
			t.Fatalf("value %v written as %q: integer form %v, want %v", v, buf, isInt, integral)
		}
	}
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "0"}, {12.5, "12.5"}, {60, "60"}, {-3, "-3"},
		{1e15, "1000000000000000"}, {1e20, "1e+20"}, {1 << 63, "9.223372036854776e+18"},
		{-(1 << 63), "-9223372036854775808"}, {1e-7, "1e-7"}, {1e21, "1e+21"},
	} {
		if got := string(appendOpenTSDBValue(nil, tc.v)); got != tc.want {
			t.Errorf("appendOpenTSDBValue(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestIsFinite(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Float64frombits(0x7ff0000000000001)} {
		if isFinite(v) {
			t.Errorf("isFinite(%v) = true", v)
		}
	}
	for _, v := range edgeFloats() {
		if !isFinite(v) && !math.IsInf(v, 0) {
			t.Errorf("isFinite(%v) = false", v)
		}
	}
}
