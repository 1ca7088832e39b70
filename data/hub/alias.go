package hub

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

var modelAliases = map[string]string{
	"bert":       "bert-base-uncased",
	"roberta":    "roberta-base",
	"deberta":    "microsoft/deberta-v3-base",
	"longformer": "allenai/longformer-base-4096",
}

// ResolveAlias maps a short model name (bert, roberta, deberta, longformer)
// to its hub repository id; any other name is returned unchanged.
func ResolveAlias(name string) string {
	if repo, ok := modelAliases[strings.ToLower(name)]; ok {
		return repo
	}
	return name
}

// ModelAliases returns a copy of the alias table (alias -> repository id).
func ModelAliases() map[string]string { return maps.Clone(modelAliases) }

// DatasetSpec describes a data set the downloader knows: its hub repository
// and the files of each split.
type DatasetSpec struct {
	// Name is the short name, e.g. "squad".
	Name string
	// Repo is the dataset repository id on the hub.
	Repo string
	// Files maps a split name ("train", "validation") to a file in Repo.
	Files map[string]string
}

var datasets = map[string]DatasetSpec{
	"squad": {
		Name: "squad",
		Repo: "rajpurkar/squad",
		Files: map[string]string{
			"train":      "plain_text/train-00000-of-00001.parquet",
			"validation": "plain_text/validation-00000-of-00001.parquet",
		},
	},
	"squad_v2": {
		Name: "squad_v2",
		Repo: "rajpurkar/squad_v2",
		Files: map[string]string{
			"train":      "squad_v2/train-00000-of-00001.parquet",
			"validation": "squad_v2/validation-00000-of-00001.parquet",
		},
	},
}

// LookupDataset returns the spec of a known data set ("squad", "squad_v2").
func LookupDataset(name string) (DatasetSpec, error) {
	spec, ok := datasets[strings.ToLower(name)]
	if !ok {
		return DatasetSpec{}, fmt.Errorf("hub: unknown data set %q (known: %s)",
			name, strings.Join(DatasetNames(), ", "))
	}
	spec.Files = maps.Clone(spec.Files)
	return spec, nil
}

// DatasetNames lists the data sets LookupDataset knows, sorted.
func DatasetNames() []string { return slices.Sorted(maps.Keys(datasets)) }

// splitNames returns the splits of a spec in a stable order.
func (s DatasetSpec) splitNames() []string { return slices.Sorted(maps.Keys(s.Files)) }
