package main

import (
	"io"

	"github.com/spf13/cobra"
)

// output prints a verb's result: v as JSON with --json, else as text.
func output(cmd *cobra.Command, jsonOut bool, v any, text func(w io.Writer)) error {
	if jsonOut {
		return printJSON(cmd.OutOrStdout(), v, false)
	}
	text(cmd.OutOrStdout())
	return nil
}
