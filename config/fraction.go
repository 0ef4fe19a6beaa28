package config

import (
	"math"
	"strconv"
)

// fraction reads a share from 0 to 1 (a sample rate).
func (r *reader) fraction(name string, def float64) float64 {
	v, ok := r.raw(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
		r.fail(name, v, "expects a number from 0 to 1, such as 0.1")
		return def
	}
	return f
}
