package train

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot draws training loss, learning rate and evaluation F1 against the step, one panel each,
// from a run's log history, into a PNG file.
func Plot(history []map[string]any, path string) error {
	series := map[string]plotter.XYs{}
	for _, e := range history {
		step, ok := number(e["step"])
		if !ok {
			continue
		}
		for _, key := range []string{"loss", "learning_rate", "eval_f1"} {
			if v, ok := number(e[key]); ok {
				series[key] = append(series[key], plotter.XY{X: step, Y: v})
			}
		}
	}
	titles := []struct{ key, title string }{{"loss", "training loss"}, {"learning_rate", "learning rate"}, {"eval_f1", "eval F1"}}
	const w, h = 6 * vg.Inch, 9 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(titles), Cols: 1, PadX: vg.Millimeter, PadY: 3 * vg.Millimeter, PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: vg.Millimeter}
	for i, t := range titles {
		p := plot.New()
		p.Title.Text = t.title
		p.X.Label.Text = "step"
		if pts := series[t.key]; len(pts) > 0 {
			line, err := plotter.NewLine(pts)
			if err != nil {
				return fmt.Errorf("plot %s: %w", t.key, err)
			}
			p.Add(line)
			if len(pts) < 30 {
				if sc, err := plotter.NewScatter(pts); err == nil {
					p.Add(sc)
				}
			}
		}
		p.Draw(tiles.At(dc, 0, i))
	}
	return saveCanvas(img, path)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}
