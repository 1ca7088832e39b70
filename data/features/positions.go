package features

// clsIndex is run_qa.py's label for "no answer in this window": the position of the first CLS
// (or BOS, the same token for the models here) in the window, or 0 when there is none.
func clsIndex(ids []int64, cls int64) int {
	for i, id := range ids {
		if id == cls {
			return i
		}
	}
	return 0
}

// answerPositions returns the training targets for the answer [startChar, endChar) (code points
// of the context) in one window, following run_qa.py's prepare_train_features exactly:
//
//   - the window's context span runs from its first to its last token of sequence ctxSeq;
//   - if the answer does not lie inside [offset start of the first, offset end of the last], both
//     targets are cls;
//   - otherwise start is the last token, counting on from the first context token, whose offset
//     start is <= startChar before the first one that starts after it, and end is the first token,
//     counting back from the last context token, whose offset end is >= endChar after the last
//     one that ends before it.
//
// Like HF, the start scan does not stop at the end of the context: special tokens after it have
// the offset (0,0) (and, for only_first, question tokens follow with question offsets), so when
// the answer starts inside the window's last context token, start lands beyond the context (on
// the final [SEP] for right padding). That is HF's documented edge case and is kept for parity.
// A window without context tokens (HF fails with an IndexError) gets cls.
func answerPositions(offsets [][2]int, seqIDs []int, ctxSeq, cls, startChar, endChar int) (start, end int) {
	first, last := -1, -1
	for i, s := range seqIDs {
		if s == ctxSeq {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 || offsets[first][0] > startChar || offsets[last][1] < endChar {
		return cls, cls
	}
	start = len(offsets) - 1
	for k := first; k < len(offsets); k++ {
		if offsets[k][0] > startChar {
			start = k - 1
			break
		}
	}
	end = 0
	for k := last; k >= 0; k-- {
		if offsets[k][1] < endChar {
			end = k + 1
			break
		}
	}
	return start, end
}
