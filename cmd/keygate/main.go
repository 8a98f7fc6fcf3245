// Command keygate runs Keygate, the self-hosted API key and account console,
// and its administrative subcommands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

const usageText = `Keygate: API keys and accounts for small teams, in one binary.

Usage:
  keygate [serve] [flags]        run the server (the default)
  keygate migrate [flags]        apply database migrations and exit
  keygate user create [flags]    create a user (password read from stdin or a prompt)
  keygate user reset-password   print a single-use password reset link (--email, --base-url)
  keygate backup [flags] FILE    write a consistent copy of the database to FILE
  keygate rotate-secret-key      re-encrypt stored credentials under a new secret key
  keygate copy-db --to URL       copy the SQLite database into an empty PostgreSQL database
  keygate cert [flags]           show the TLS certificate in use: file, fingerprint, names, expiry
  keygate scan [flags] [PATH...] find Keygate keys in files (exit 1 if any); --report URL reports them leaked
  keygate version                print the version, commit and build date

Run "keygate COMMAND --help" for a command's flags. Every flag can also be set
by an environment variable: KEYGATE_ and the flag name in upper case, with
underscores for dashes (--data-dir is KEYGATE_DATA_DIR). Flags win.
--database postgres://... (KEYGATE_DATABASE) runs every command on PostgreSQL
instead of SQLite in the data directory.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprint(stdout, usageText)
		return 0
	}
	var err error
	switch cmd {
	case "serve":
		err = runServe(args, stdout, stderr)
	case "migrate":
		err = runMigrate(args, stdout, stderr)
	case "user":
		err = runUser(args, stdin, stdout, stderr)
	case "backup":
		err = runBackup(args, stdout, stderr)
	case "rotate-secret-key":
		err = runRotateSecretKey(args, stdout, stderr)
	case "copy-db":
		err = runCopyDB(args, stdout, stderr)
	case "cert":
		err = runCert(args, stdout, stderr)
	case "scan":
		return runScan(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionLine())
		return 0
	case "help":
		fmt.Fprint(stdout, usageText)
		return 0
	default:
		fmt.Fprintf(stderr, "keygate: unknown command %q\n\n%s", cmd, usageText)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "keygate: %v\n", err)
	return 1
}

// errUsage means the flags were wrong; the flag package has said why.
var errUsage = errors.New("usage")

// newFlagSet returns a flag set that prints its usage to w.
func newFlagSet(name, synopsis string, w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(w, "Usage: %s\n\nFlags (each also KEYGATE_<NAME> in the environment):\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and turns a flag error into errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		if strings.HasPrefix(err.Error(), "KEYGATE_") {
			return err
		}
		return errUsage
	}
	return nil
}

// newLogger returns the process logger in the configured format.
func newLogger(c *Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
