package features

// hfLabels is a literal, line-by-line transcription of the labelling loop of Hugging Face's
// run_qa.py prepare_train_features, for one feature i, written independently of
// answerPositions. sequenceIDs uses nil for None. ok is false where Python would raise
// (IndexError: no token of the context sequence in the window).
func hfLabels(inputIDs []int64, sequenceIDs []*int, offsets [][2]int, clsTokenID, bosTokenID int64,
	answerStart []int, answerText []string, padOnRight bool) (startPosition, endPosition int, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	pyIndex := func(i int) int { // Python's negative indexing
		if i < 0 {
			return len(offsets) + i
		}
		return i
	}
	contains := func(id int64) bool { return index(inputIDs, id) >= 0 }
	notContext := func(s *int) bool {
		want := 0
		if padOnRight {
			want = 1
		}
		return s == nil || *s != want
	}

	// We will label impossible answers with the index of the CLS token.
	var clsIndex int
	if contains(clsTokenID) {
		clsIndex = index(inputIDs, clsTokenID)
	} else if contains(bosTokenID) {
		clsIndex = index(inputIDs, bosTokenID)
	} else {
		clsIndex = 0
	}
	// If no answers are given, set the cls_index as answer.
	if len(answerStart) == 0 {
		return clsIndex, clsIndex, true
	}
	// Start/end character index of the answer in the text.
	startChar := answerStart[0]
	endChar := startChar + len([]rune(answerText[0]))

	// Start token index of the current span in the text.
	tokenStartIndex := 0
	for notContext(sequenceIDs[tokenStartIndex]) {
		tokenStartIndex += 1
	}
	// End token index of the current span in the text.
	tokenEndIndex := len(inputIDs) - 1
	for notContext(sequenceIDs[pyIndex(tokenEndIndex)]) {
		tokenEndIndex -= 1
	}
	// Detect if the answer is out of the span (in which case this feature is labeled with the CLS index).
	if !(offsets[tokenStartIndex][0] <= startChar && offsets[pyIndex(tokenEndIndex)][1] >= endChar) {
		return clsIndex, clsIndex, true
	}
	// Otherwise move the token_start_index and token_end_index to the two ends of the answer.
	for tokenStartIndex < len(offsets) && offsets[tokenStartIndex][0] <= startChar {
		tokenStartIndex += 1
	}
	startPosition = tokenStartIndex - 1
	for offsets[pyIndex(tokenEndIndex)][1] >= endChar {
		tokenEndIndex -= 1
	}
	endPosition = tokenEndIndex + 1
	return startPosition, endPosition, true
}

// index is Python's list.index, -1 when absent.
func index(xs []int64, x int64) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// seqPtrs converts sequence ids (-1 for special tokens) to the Python form (None).
func seqPtrs(ids []int) []*int {
	out := make([]*int, len(ids))
	for i := range ids {
		if ids[i] >= 0 {
			v := ids[i]
			out[i] = &v
		}
	}
	return out
}
