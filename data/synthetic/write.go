package synthetic

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spanqa/spanqa/data/squad"
)

// WriteSQuAD writes examples as a SQuAD v1.1 JSON file (articles -> paragraphs -> qas), the
// format every spanqa command and the official scorer read.
func WriteSQuAD(path string, examples []squad.Example) error {
	type answer struct {
		Text        string `json:"text"`
		AnswerStart int    `json:"answer_start"`
	}
	type qa struct {
		ID       string   `json:"id"`
		Question string   `json:"question"`
		Answers  []answer `json:"answers"`
	}
	type paragraph struct {
		Context string `json:"context"`
		QAs     []qa   `json:"qas"`
	}
	type article struct {
		Title      string      `json:"title"`
		Paragraphs []paragraph `json:"paragraphs"`
	}
	var arts []article
	for _, e := range examples {
		if len(arts) == 0 || arts[len(arts)-1].Title != e.Title {
			arts = append(arts, article{Title: e.Title, Paragraphs: []paragraph{{Context: e.Context}}})
		}
		p := &arts[len(arts)-1].Paragraphs[0]
		q := qa{ID: e.ID, Question: e.Question}
		for _, a := range e.Answers {
			q.Answers = append(q.Answers, answer{Text: a.Text, AnswerStart: a.Start})
		}
		p.QAs = append(p.QAs, q)
	}
	data, err := json.Marshal(map[string]any{"version": "1.1", "data": arts})
	if err != nil {
		return fmt.Errorf("synthetic: %w", err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("synthetic: %w", err)
	}
	return os.Rename(tmp, path)
}
