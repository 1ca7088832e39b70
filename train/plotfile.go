package train

import (
	"os"
	"path/filepath"

	"gonum.org/v1/plot/vg/vgimg"
)

// saveCanvas writes the canvas as PNG through a temporary file and a rename.
func saveCanvas(img *vgimg.Canvas, path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".plot*.png")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
