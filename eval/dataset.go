package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spanqa/spanqa/data/squad"
)

// Question is one question of a SQuAD data set as the official evaluation scripts see it: its id
// and its gold answer texts. Nothing else in the data set matters to the metrics.
type Question struct {
	ID string
	// Answers are the gold answer texts in file order, duplicates kept. An unanswerable SQuAD
	// v2.0 question has none.
	Answers []string
}

// HasAnswer reports whether the question has at least one gold answer (the official v2.0
// script's qid_to_has_ans: bool(qa['answers'])).
func (q *Question) HasAnswer() bool { return len(q.Answers) > 0 }

// Dataset is the gold side of an evaluation: the questions in data set order (articles, then
// paragraphs, then qas), which is the order the official scripts iterate in.
type Dataset struct {
	// Version is the data set's "version" field ("1.1", "v2.0"); empty when absent.
	Version   string
	Questions []Question
}

// HasUnanswerable reports whether some question has no gold answer; the SQuAD v2.0 rules apply
// to such a data set.
func (d *Dataset) HasUnanswerable() bool {
	for i := range d.Questions {
		if !d.Questions[i].HasAnswer() {
			return true
		}
	}
	return false
}

// DatasetFromExamples builds the gold side of an evaluation from examples (as HF's run_qa.py
// builds the references of its metric from the evaluation examples).
func DatasetFromExamples(examples []squad.Example) *Dataset {
	d := &Dataset{Questions: make([]Question, len(examples))}
	for i := range examples {
		ex := &examples[i]
		q := Question{ID: ex.ID, Answers: make([]string, len(ex.Answers))}
		for j, a := range ex.Answers {
			q.Answers[j] = a.Text
		}
		d.Questions[i] = q
	}
	return d
}

// squadJSON is the part of a SQuAD JSON file the official scripts read.
type squadJSON struct {
	Version json.RawMessage `json:"version"`
	Data    []struct {
		Paragraphs []struct {
			QAs []struct {
				ID      string `json:"id"`
				Answers []struct {
					Text string `json:"text"`
				} `json:"answers"`
			} `json:"qas"`
		} `json:"paragraphs"`
	} `json:"data"`
}

// ReadDataset reads a SQuAD v1.1 or v2.0 JSON file ({"version", "data": [{"paragraphs": [{"qas":
// [{"id", "answers": [{"text"}]}]}]}]}) into a Dataset, keeping only what the official scripts
// read. Other fields (contexts, answer_start, plausible_answers) are ignored.
func ReadDataset(path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: read data set: %w", err)
	}
	defer f.Close()
	d, err := DecodeDataset(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("eval: read data set %s: %w", path, err)
	}
	return d, nil
}

// DecodeDataset reads a SQuAD JSON document from r (see ReadDataset).
func DecodeDataset(r io.Reader) (*Dataset, error) {
	var raw squadJSON
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("decode SQuAD JSON: %w", err)
	}
	if raw.Data == nil {
		return nil, errors.New(`decode SQuAD JSON: no "data" array`)
	}
	d := &Dataset{}
	if v := bytes.TrimSpace(raw.Version); len(v) > 0 && !bytes.Equal(v, []byte("null")) {
		if err := json.Unmarshal(v, &d.Version); err != nil {
			// A non-string version: keep its JSON text, as Python would show it.
			d.Version = string(v)
		}
	}
	for _, art := range raw.Data {
		for _, p := range art.Paragraphs {
			for _, qa := range p.QAs {
				q := Question{ID: qa.ID, Answers: make([]string, len(qa.Answers))}
				for i, a := range qa.Answers {
					q.Answers[i] = a.Text
				}
				d.Questions = append(d.Questions, q)
			}
		}
	}
	return d, nil
}

// Predictions maps question ids to predicted answer texts (the predictions.json format of the
// official scripts and of HF).
type Predictions map[string]string

// ReadPredictions reads a predictions JSON file: one object mapping question ids to answer
// strings. As with Python's json.load, a repeated id keeps its last value.
func ReadPredictions(path string) (Predictions, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("eval: read predictions: %w", err)
	}
	var p Predictions
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("eval: read predictions %s: %w", path, err)
	}
	if p == nil {
		return nil, fmt.Errorf("eval: read predictions %s: not a JSON object", path)
	}
	return p, nil
}

// NoAnswerProb is one entry of a no-answer probability file (the official v2.0 script's
// --na-prob-file, HF's null_odds.json).
type NoAnswerProb struct {
	ID   string
	Prob float64
	// IsInt records that the file wrote the value as an integer (a Python int): a best threshold
	// taken from it is printed as an integer, as the official script prints it.
	IsInt bool
}

// NoAnswerProbs are no-answer probabilities in file order. The order matters: the official
// script's best-threshold search sorts the ids by probability with a stable sort.
type NoAnswerProbs []NoAnswerProb

// ZeroNoAnswerProbs returns probability 0.0 for every id, in the order given (what HF's run_qa.py
// passes to the squad_v2 metric).
func ZeroNoAnswerProbs(ids []string) NoAnswerProbs {
	p := make(NoAnswerProbs, len(ids))
	for i, id := range ids {
		p[i] = NoAnswerProb{ID: id}
	}
	return p
}

// ReadNoAnswerProbs reads a no-answer probability file: one JSON object mapping question ids to
// numbers. As with Python's json.load, a repeated id keeps its first position and its last value.
func ReadNoAnswerProbs(path string) (NoAnswerProbs, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eval: read no-answer probabilities: %w", err)
	}
	defer f.Close()
	p, err := DecodeNoAnswerProbs(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("eval: read no-answer probabilities %s: %w", path, err)
	}
	return p, nil
}

// DecodeNoAnswerProbs reads a no-answer probability object from r (see ReadNoAnswerProbs).
func DecodeNoAnswerProbs(r io.Reader) (NoAnswerProbs, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var out NoAnswerProbs
	pos := map[string]int{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		id := tok.(string)
		tok, err = dec.Token()
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("id %s: no-answer probability %v is not a number", id, tok)
		}
		v, err := strconv.ParseFloat(string(num), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("id %s: %w", id, err)
		}
		e := NoAnswerProb{ID: id, Prob: v, IsInt: !bytes.ContainsAny([]byte(num), ".eE")}
		if i, seen := pos[id]; seen {
			out[i] = e
		} else {
			pos[id] = len(out)
			out = append(out, e)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}
