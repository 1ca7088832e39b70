package eval

import "math/bits"

// npArgsort32 is np.argsort(x) with numpy's default kind ("quicksort") as numpy's generic C code
// implements it for float32: an introsort (median-of-three quicksort, insertion sort on
// partitions of at most 16 elements (pr - pl <= 15), heapsort past a depth limit) over indices, with NaN ordered
// last. It is not a stable sort, and the order it gives equal values is part of what HF's
// post-processing does; reproducing it keeps the n-best lists identical when logits tie.
// (numpy builds that dispatch argsort to SIMD sorting networks, on AVX-512 machines, may order
// ties differently.)
func npArgsort32(x []float32) []int {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	if len(x) < 2 {
		return idx
	}
	lt := func(a, b float32) bool { return a < b || (b != b && a == a) }
	const smallQuicksort = 15
	type span struct{ l, r, depth int }
	var stack []span
	l, r := 0, len(x)-1
	depth := 2 * (bits.Len(uint(len(x))) - 1)
	for {
		if depth < 0 {
			npAHeapsort32(x, idx[l:r+1], lt)
		} else {
			for r-l > smallQuicksort {
				m := l + (r-l)>>1
				if lt(x[idx[m]], x[idx[l]]) {
					idx[m], idx[l] = idx[l], idx[m]
				}
				if lt(x[idx[r]], x[idx[m]]) {
					idx[r], idx[m] = idx[m], idx[r]
				}
				if lt(x[idx[m]], x[idx[l]]) {
					idx[m], idx[l] = idx[l], idx[m]
				}
				vp := x[idx[m]]
				i, j := l, r-1
				idx[m], idx[j] = idx[j], idx[m]
				for {
					for i++; lt(x[idx[i]], vp); i++ {
					}
					for j--; lt(vp, x[idx[j]]); j-- {
					}
					if i >= j {
						break
					}
					idx[i], idx[j] = idx[j], idx[i]
				}
				idx[i], idx[r-1] = idx[r-1], idx[i]
				depth--
				// Push the larger partition, go on with the smaller one.
				if i-l < r-i {
					stack = append(stack, span{i + 1, r, depth})
					r = i - 1
				} else {
					stack = append(stack, span{l, i - 1, depth})
					l = i + 1
				}
			}
			for i := l + 1; i <= r; i++ {
				vi := idx[i]
				vp := x[vi]
				j := i
				for j > l && lt(vp, x[idx[j-1]]) {
					idx[j] = idx[j-1]
					j--
				}
				idx[j] = vi
			}
		}
		if len(stack) == 0 {
			return idx
		}
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		l, r, depth = s.l, s.r, s.depth
	}
}

// npAHeapsort32 is numpy's index heapsort (aheapsort), the introsort fallback.
func npAHeapsort32(x []float32, tosort []int, lt func(a, b float32) bool) {
	n := len(tosort)
	// numpy indexes the heap from 1: a[k] is tosort[k-1].
	a := func(k int) *int { return &tosort[k-1] }
	for l := n >> 1; l > 0; l-- {
		tmp := *a(l)
		i, j := l, l<<1
		for j <= n {
			if j < n && lt(x[*a(j)], x[*a(j + 1)]) {
				j++
			}
			if lt(x[tmp], x[*a(j)]) {
				*a(i) = *a(j)
				i = j
				j += j
			} else {
				break
			}
		}
		*a(i) = tmp
	}
	for ; n > 1; n-- {
		tmp := *a(n)
		*a(n) = *a(1)
		i, j := 1, 2
		for j <= n-1 {
			if j < n-1 && lt(x[*a(j)], x[*a(j + 1)]) {
				j++
			}
			if lt(x[tmp], x[*a(j)]) {
				*a(i) = *a(j)
				i = j
				j += j
			} else {
				break
			}
		}
		*a(i) = tmp
	}
}
