package runtime

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"strings"
)

// Exit codes of SPEC §1, the same for every binary.
const (
	ExitOK      = 0 // clean drain, or a command that succeeded
	ExitRuntime = 1 // fatal runtime error
	ExitConfig  = 2 // bad config or bad flags
)

// Command is the command-line shape both binaries share: `NAME version`,
// `NAME validate -config FILE`, `NAME help`, named subcommands, and
// otherwise flags only, which run the server. It holds no state of its
// own; Run is main without the process.
type Command struct {
	Name    string // "lb" or "edge": the first word of every message
	Version string // printed by `NAME version`, followed by the Go version
	Usage   func(w io.Writer)
	// Validate checks a config file: the one-line summary, or an error
	// whose every line names FILE:LINE:COL.
	Validate func(path string) (summary string, err error)
	// Subcommands beyond validate and version (edge: sign, geo), and how
	// the unknown-command message lists every command.
	Subcommands map[string]func(args []string, stdout, stderr io.Writer) int
	Known       string // e.g. "validate or version"
	Serve       func(args []string, stdout, stderr io.Writer) int
}

// Run dispatches args (without the program name) and returns the exit
// code.
func (c Command) Run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version", "-version", "--version":
			fmt.Fprintf(stdout, "%s %s %s\n", c.Name, c.Version, goruntime.Version())
			return ExitOK
		case "validate":
			return c.validate(args[1:], stdout, stderr)
		case "help", "-h", "-help", "--help":
			c.Usage(stdout)
			return ExitOK
		}
		if sub, ok := c.Subcommands[args[0]]; ok {
			return sub(args[1:], stdout, stderr)
		}
		if !strings.HasPrefix(args[0], "-") {
			fmt.Fprintf(stderr, "%s: unknown command %q (want %s, or flags only)\n", c.Name, args[0], c.Known)
			c.Usage(stderr)
			return ExitConfig
		}
	}
	return c.Serve(args, stdout, stderr)
}

// Main is the whole of a binary's main: when args serve, the process is
// first re-executed with the sysmon setting (KeepSysmonAwake; a failure is
// reported and the server runs with Go's default), then Run. Tests call
// Run, never Main.
func (c Command) Main(args []string) int {
	if c.Serves(args) {
		if err := KeepSysmonAwake(); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v (serving with Go's default sysmon)\n", c.Name, err)
		}
	}
	return c.Run(args, os.Stdout, os.Stderr)
}

// Serves reports whether Run would start the server for args: flags
// only, or none. main uses it to prepare the process (KeepSysmonAwake)
// for serving and not for a one-shot command.
func (c Command) Serves(args []string) bool {
	if len(args) == 0 {
		return true
	}
	switch args[0] {
	case "version", "-version", "--version", "validate", "help", "-h", "-help", "--help":
		return false
	}
	if _, ok := c.Subcommands[args[0]]; ok {
		return false
	}
	return strings.HasPrefix(args[0], "-")
}

// validate is `NAME validate -config FILE`: exit 0 and a one-line
// summary, or exit 2 and every error as FILE:LINE:COL: path: message.
func (c Command) validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(c.Name+" validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config `file` to check")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitConfig
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "usage: %s validate -config FILE\n", c.Name)
		return ExitConfig
	}
	summary, err := c.Validate(*path)
	if err != nil {
		PrintConfigErrors(stderr, *path, err)
		return ExitConfig
	}
	fmt.Fprintln(stdout, summary)
	return ExitOK
}

// PrintConfigErrors writes every error line of err, naming the file when
// the error does not.
func PrintConfigErrors(w io.Writer, path string, err error) {
	msg := err.Error()
	if !strings.Contains(msg, path) {
		msg = path + ": " + msg
	}
	fmt.Fprintln(w, msg)
}

// ServeFlags are the flags every serving command takes. A command adds
// its own (the demo addresses) to the same FlagSet before ParseServe.
type ServeFlags struct {
	Config    string
	LogLevel  string
	LogFormat string
	Admin     string // overrides admin.address when AdminSet
	AdminSet  bool
}

// NewServeFlagSet returns a FlagSet named name that prints usage to
// stderr and has -config, -log-level, -log-format and -admin bound to f.
func NewServeFlagSet(name string, f *ServeFlags, stderr io.Writer, usage func(io.Writer), configHelp, adminHelp string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	fs.StringVar(&f.Config, "config", "", configHelp)
	fs.StringVar(&f.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.Admin, "admin", "", adminHelp)
	return fs
}

// ParseServe parses args into fs, refuses positional arguments and
// records whether -admin was given (an empty -admin still overrides).
func (f *ServeFlags) ParseServe(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "admin" {
			f.AdminSet = true
		}
	})
	return nil
}

// FlagExit is the exit code for a ParseServe error, printing it unless
// the flag package already did: -h is a success, anything else exit 2.
func FlagExit(err error, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if !strings.HasPrefix(err.Error(), "flag provided but not defined") {
		fmt.Fprintln(stderr, err)
	}
	return ExitConfig
}
