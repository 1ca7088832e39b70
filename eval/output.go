package eval

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// atomicFile is a file written under a temporary name in its final directory and renamed into
// place only when complete, so that a crash never leaves a truncated file under the final name.
type atomicFile struct {
	path string
	f    *os.File
	w    *bufio.Writer
	err  error
}

// createAtomic starts writing path.
func createAtomic(path string) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("eval: create %s: %w", path, err)
	}
	return &atomicFile{path: path, f: f, w: bufio.NewWriterSize(f, 1<<16)}, nil
}

// WriteString buffers s; the first error is kept and reported by Commit.
func (a *atomicFile) WriteString(s string) {
	if a.err == nil {
		_, a.err = a.w.WriteString(s)
	}
}

// Commit flushes, fsyncs and closes the temporary file, renames it to its final name and fsyncs
// the directory.
func (a *atomicFile) Commit() error {
	if a.f == nil {
		return fmt.Errorf("eval: write %s: already closed", a.path)
	}
	err := a.err
	if err == nil {
		err = a.w.Flush()
	}
	if err == nil {
		err = a.f.Chmod(0o644)
	}
	if err == nil {
		err = a.f.Sync()
	}
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	tmp := a.f.Name()
	a.f = nil
	if err == nil {
		err = os.Rename(tmp, a.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("eval: write %s: %w", a.path, err)
	}
	if d, derr := os.Open(filepath.Dir(a.path)); derr == nil {
		// Best effort: some file systems do not support syncing a directory.
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Abort removes the temporary file; it does nothing after Commit.
func (a *atomicFile) Abort() {
	if a.f == nil {
		return
	}
	tmp := a.f.Name()
	a.f.Close()
	a.f = nil
	os.Remove(tmp)
}

// writeFileAtomic writes data to path through a temporary file and a rename.
func writeFileAtomic(path, data string) error {
	a, err := createAtomic(path)
	if err != nil {
		return err
	}
	a.WriteString(data)
	return a.Commit()
}

// objectStream writes one JSON object member by member, as json.dumps(obj, indent=indent) + "\n"
// lays it out, into an atomicFile.
type objectStream struct {
	*atomicFile
	indent int
	n      int
}

func newObjectStream(path string, indent int) (*objectStream, error) {
	a, err := createAtomic(path)
	if err != nil {
		return nil, err
	}
	return &objectStream{atomicFile: a, indent: indent}, nil
}

// Member writes key and its already encoded value (laid out for nesting level 1).
func (s *objectStream) Member(key, value string) {
	if s.n == 0 {
		s.WriteString("{\n")
	} else {
		s.WriteString(",\n")
	}
	s.n++
	s.WriteString(strings.Repeat(" ", s.indent))
	s.WriteString(pyString(key))
	s.WriteString(": ")
	s.WriteString(value)
}

// Commit closes the object and commits the file.
func (s *objectStream) Commit() error {
	if s.n == 0 {
		s.WriteString("{}\n")
	} else {
		s.WriteString("\n}\n")
	}
	return s.atomicFile.Commit()
}

// pyArray encodes already encoded items as json.dumps(list, indent=indent) does at nesting level.
func pyArray(items []string, indent, level int) string {
	if len(items) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
		b.WriteString(strings.Repeat(" ", indent*(level+1)))
		b.WriteString(it)
	}
	b.WriteByte('\n')
	b.WriteString(strings.Repeat(" ", indent*level))
	b.WriteByte(']')
	return b.String()
}

// nbestJSON encodes an n-best list as utils_qa.py writes it into nbest_predictions.json (indent 4,
// nesting level 1): entries {"start_logit", "end_logit", "text", "probability"}, and HF's
// placeholder as {"text", "start_logit", "end_logit", "probability"}.
func nbestJSON(nbest []Candidate, indent int) string {
	items := make([]string, len(nbest))
	for i := range nbest {
		c := &nbest[i]
		text := pyKV{"text", pyString(c.Text)}
		sl, el := pyKV{"start_logit", pyFloat(c.StartLogit)}, pyKV{"end_logit", pyFloat(c.EndLogit)}
		prob := pyKV{"probability", pyFloat(c.Probability)}
		m := []pyKV{sl, el, text, prob}
		if c.Placeholder {
			m = []pyKV{text, sl, el, prob}
		}
		items[i] = pyObject(m, indent, 2)
	}
	return pyArray(items, indent, 1)
}

// PredictionWriter streams post-processed predictions into the files HF's utils_qa.py writes:
// predictions.json, nbest_predictions.json and, for SQuAD v2.0, null_odds.json (each
// json.dumps(..., indent=4) + "\n", in the order predictions are added). The files are written
// under temporary names and renamed into place by Commit; Abort (or a crash) leaves no file under
// a final name.
type PredictionWriter struct {
	preds, nbest, nullOdds *objectStream
	done                   bool
}

// PredictionFiles are the file names PredictionWriter writes, for a prefix ("" for none: HF's
// prefix gives "<prefix>_predictions.json").
func PredictionFiles(prefix string) (predictions, nbest, nullOdds string) {
	p := ""
	if prefix != "" {
		p = prefix + "_"
	}
	return p + "predictions.json", p + "nbest_predictions.json", p + "null_odds.json"
}

// NewPredictionWriter starts the prediction files in dir (which must exist); null_odds.json only
// when version2 is set.
func NewPredictionWriter(dir, prefix string, version2 bool) (*PredictionWriter, error) {
	pn, nn, on := PredictionFiles(prefix)
	w := &PredictionWriter{}
	var err error
	if w.preds, err = newObjectStream(filepath.Join(dir, pn), 4); err != nil {
		return nil, err
	}
	if w.nbest, err = newObjectStream(filepath.Join(dir, nn), 4); err != nil {
		w.Abort()
		return nil, err
	}
	if version2 {
		if w.nullOdds, err = newObjectStream(filepath.Join(dir, on), 4); err != nil {
			w.Abort()
			return nil, err
		}
	}
	return w, nil
}

// Add writes one example's prediction. Write errors are kept and returned by Commit.
func (w *PredictionWriter) Add(p *Prediction) {
	w.preds.Member(p.ID, pyString(p.Text))
	w.nbest.Member(p.ID, nbestJSON(p.NBest, 4))
	if w.nullOdds != nil && p.HasNullScoreDiff {
		w.nullOdds.Member(p.ID, pyFloat(p.NullScoreDiff))
	}
}

// Commit completes the files and renames them into place.
func (w *PredictionWriter) Commit() error {
	if w.done {
		return nil
	}
	w.done = true
	for _, s := range []*objectStream{w.preds, w.nbest, w.nullOdds} {
		if s == nil {
			continue
		}
		if err := s.Commit(); err != nil {
			w.abortAll()
			return err
		}
	}
	return nil
}

// Abort removes the temporary files; nothing is left under the final names.
func (w *PredictionWriter) Abort() {
	w.done = true
	w.abortAll()
}

func (w *PredictionWriter) abortAll() {
	for _, s := range []*objectStream{w.preds, w.nbest, w.nullOdds} {
		if s != nil {
			s.Abort()
		}
	}
}

// WritePredictions writes the prediction files for preds into dir at once (see PredictionWriter).
func WritePredictions(dir, prefix string, preds []Prediction, version2 bool) error {
	w, err := NewPredictionWriter(dir, prefix, version2)
	if err != nil {
		return err
	}
	for i := range preds {
		w.Add(&preds[i])
	}
	return w.Commit()
}
