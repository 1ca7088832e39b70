package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spanqa/spanqa/data/hub"
)

func init() {
	register("download", "fetch a model from the Hugging Face hub into the shared cache", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		_, err := runDownload(ctx, args, stdout, stderr)
		return err
	})
	register("download-data", "fetch SQuAD (squad, squad_v2) parquet files into the cache", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		_, err := runDownloadData(ctx, args, stdout, stderr)
		return err
	})
}

// hubFlags are the flags shared by the download commands; set flags override the environment.
type hubFlags struct {
	revision, cacheDir, endpoint, token string
	offline                             bool
}

func addHubFlags(fs *flag.FlagSet) *hubFlags {
	f := &hubFlags{}
	fs.StringVar(&f.revision, "revision", "", "branch, tag or commit hash (default \"main\")")
	fs.StringVar(&f.cacheDir, "cache-dir", "", "hub cache directory (default $HF_HUB_CACHE or $HF_HOME/hub)")
	fs.StringVar(&f.endpoint, "endpoint", "", "hub URL (default $HF_ENDPOINT or "+hub.DefaultEndpoint+")")
	fs.StringVar(&f.token, "token", "", "access token for private or gated repositories (default $HF_TOKEN)")
	fs.BoolVar(&f.offline, "offline", false, "use the cache only, as with HF_HUB_OFFLINE=1")
	return f
}

// client builds a hub.Client from the environment, then applies the flags. Without a usable
// cache directory in the environment, --cache-dir supplies it.
func (f *hubFlags) client(progress io.Writer) (*hub.Client, error) {
	c, err := hub.NewClientFromEnv()
	if err != nil && f.cacheDir == "" {
		return nil, err
	}
	if c == nil {
		c = &hub.Client{Endpoint: hub.EndpointFromEnv(), Token: hub.TokenFromEnv(), Offline: hub.OfflineFromEnv()}
	}
	if f.cacheDir != "" {
		c.CacheDir = f.cacheDir
	}
	if f.endpoint != "" {
		c.Endpoint = strings.TrimRight(f.endpoint, "/")
	}
	if f.token != "" {
		c.Token = f.token
	}
	c.Offline = c.Offline || f.offline
	c.Progress = progress
	return c, nil
}

// runDownload is `spanqa download [flags] <model>`: it downloads config, tokenizer files and
// weights of a model (an alias such as bert, roberta, deberta, longformer, or any repository
// id) into the hub cache, prints the snapshot directory on stdout and returns it, so that the
// conversion step can follow. Progress and messages go to stderr.
//
// Flags (before or after the model): --revision, --cache-dir, --endpoint, --token, --offline;
// --dry-run prints what would be fetched and downloads nothing (the returned directory is then
// empty); --if-missing makes no request when the cache already holds a usable snapshot.
func runDownload(ctx context.Context, args []string, stdout, stderr io.Writer) (string, error) {
	fs := newFlagSet("download", stderr)
	hf := addHubFlags(fs)
	dryRun := fs.Bool("dry-run", false, "print what would be fetched, fetch nothing")
	ifMissing := fs.Bool("if-missing", false, "use a complete cached snapshot without asking the hub")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: spanqa download [flags] <model>\n\n<model> is a hub repository id or one of: %s\n\nflags:\n", aliasHelp())
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		fs.Usage()
		return "", fmt.Errorf("download: want exactly one model, got %d arguments", len(pos))
	}
	c, err := hf.client(stderr)
	if err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	var dir string
	switch {
	case *dryRun:
		plan, err := c.PlanModel(ctx, pos[0], hf.revision)
		if err != nil {
			return "", fmt.Errorf("download: %w", err)
		}
		fmt.Fprint(stdout, plan.Describe())
		return "", nil
	case *ifMissing:
		dir, err = c.EnsureModel(ctx, pos[0], hf.revision)
	default:
		dir, err = c.DownloadModel(ctx, pos[0], hf.revision)
	}
	if err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	fmt.Fprintln(stdout, dir)
	return dir, nil
}

// runDownloadData is `spanqa download-data [flags] squad|squad_v2`: it downloads the data set's
// parquet files into the hub cache, verified, prints one "<split>\t<path>" line per split on
// stdout and returns the paths. It takes the flags of runDownload except --if-missing;
// --dry-run prints what would be fetched.
func runDownloadData(ctx context.Context, args []string, stdout, stderr io.Writer) (map[string]string, error) {
	fs := newFlagSet("download-data", stderr)
	hf := addHubFlags(fs)
	dryRun := fs.Bool("dry-run", false, "print what would be fetched, fetch nothing")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: spanqa download-data [flags] %s\n\nflags:\n", strings.Join(hub.DatasetNames(), "|"))
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) != 1 {
		fs.Usage()
		return nil, fmt.Errorf("download-data: want exactly one data set, got %d arguments", len(pos))
	}
	c, err := hf.client(stderr)
	if err != nil {
		return nil, fmt.Errorf("download-data: %w", err)
	}
	if *dryRun {
		plan, err := c.PlanDataset(ctx, pos[0], hf.revision)
		if err != nil {
			return nil, fmt.Errorf("download-data: %w", err)
		}
		fmt.Fprint(stdout, plan.Describe())
		return nil, nil
	}
	files, err := c.DownloadDataset(ctx, pos[0], hf.revision)
	if err != nil {
		return nil, fmt.Errorf("download-data: %w", err)
	}
	for _, split := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(stdout, "%s\t%s\n", split, files[split])
	}
	return files, nil
}

// aliasHelp lists the model aliases with their repositories: "bert (bert-base-uncased), ...".
func aliasHelp() string {
	aliases := hub.ModelAliases()
	var parts []string
	for _, a := range slices.Sorted(maps.Keys(aliases)) {
		parts = append(parts, a+" ("+aliases[a]+")")
	}
	return strings.Join(parts, ", ")
}
