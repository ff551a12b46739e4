// Loads Compose files with compose-go, the loader of Docker Compose itself, and prints the resolved
// project as JSON (exit 0), or the loader's error (exit 1). Used by tests/integration/test_compose_files.py.
//
//	go run . -env-file ENV FILE [FILE...]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	envFile := flag.String("env-file", "", "the env file the files interpolate from")
	flag.Parse()
	files := flag.Args()
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "usage: go run . -env-file ENV FILE [FILE...]")
		os.Exit(2)
	}
	options := []cli.ProjectOptionsFn{cli.WithName("audit-layer"), cli.WithWorkingDirectory(filepath.Dir(files[0])),
		cli.WithOsEnv}
	if *envFile != "" {
		options = append(options, cli.WithEnvFiles(*envFile), cli.WithDotEnv)
	}
	opts, err := cli.NewProjectOptions(files, options...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}
