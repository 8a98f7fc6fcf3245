package main

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/keygate/keygate/internal/keygate"
	"github.com/keygate/keygate/internal/password"
	"github.com/keygate/keygate/internal/sqlstore"
	"golang.org/x/term"
)

func runMigrate(args []string, stdout, stderr io.Writer) error {
	var c Config
	fs := newFlagSet("migrate", "keygate migrate [flags]", stderr)
	commonFlags(fs, &c)
	databaseFlag(fs, &c)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	db, err := openDB(context.Background(), &c, true)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(stdout, "Database %s is up to date.\n", c.databaseName())
	return nil
}

func runBackup(args []string, stdout, stderr io.Writer) error {
	var c Config
	fs := newFlagSet("backup", "keygate backup [flags] FILE", stderr)
	commonFlags(fs, &c)
	databaseFlag(fs, &c)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	dest := fs.Arg(0)
	if err := c.checkDatabase(); err != nil {
		return err
	}
	if c.onPostgres() {
		return errBackupPostgres(&c, dest)
	}
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("backup: %s already exists; choose a new file name", dest)
	}
	// Opening creates a missing database, so without this check a mistyped
	// --data-dir would "succeed" with an empty backup.
	if _, err := os.Stat(sqlitePath(&c)); err != nil {
		return fmt.Errorf("backup: %w; check --data-dir", err)
	}
	db, err := openDB(context.Background(), &c, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Backup(context.Background(), dest); err != nil {
		return err
	}
	if err := os.Chmod(dest, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Backed up %s to %s.\n", db.Path, dest)
	return nil
}

// userUsage lists the user subcommands.
const userUsage = "Usage: keygate user create [flags]\n       keygate user reset-password --email EMAIL --base-url URL\n       keygate user reset-2fa --email EMAIL"

func runUser(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "reset-password" {
		return runUserResetPassword(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "reset-2fa" {
		return runUserReset2FA(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stdout, userUsage)
			return nil
		}
		fmt.Fprintln(stderr, userUsage)
		return errUsage
	}
	var c Config
	var email, name, org string
	var superuser bool
	fs := newFlagSet("user create", "keygate user create --email EMAIL --name NAME --organization ORG [--superuser] < password", stderr)
	commonFlags(fs, &c)
	fs.StringVar(&email, "email", "", "the user's email (required)")
	fs.StringVar(&name, "name", "", "the user's name (required)")
	fs.StringVar(&org, "organization", "", "name of the organization created for the user, who becomes its Owner (required)")
	fs.BoolVar(&superuser, "superuser", false, "make the user an instance administrator")
	databaseFlag(fs, &c)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	ctx := context.Background()
	db, err := openDB(ctx, &c, true)
	if err != nil {
		return err
	}
	defer db.Close()
	users := sqlstore.NewUserService(db, password.NewHasher(password.DefaultParams, 0))
	user, o, err := users.CreateUser(ctx, &keygate.Signup{Name: name, Email: email, Password: pw, OrganizationName: org}, superuser)
	if err != nil {
		if fields := keygate.ErrorFields(err); len(fields) > 0 {
			var msgs []string
			for f, m := range fields {
				msgs = append(msgs, "--"+flagOf(f)+": "+m)
			}
			return errors.New(strings.Join(msgs, "; "))
		}
		return errors.New(keygate.ErrorMessage(err))
	}
	role := "user"
	if user.IsSuperuser {
		role = "superuser"
	}
	fmt.Fprintf(stdout, "Created %s %s (%s), Owner of %s (%s).\n", role, user.Email, user.PublicID, o.Name, o.PublicID)
	return nil
}

// flagOf names the flag for a signup field.
func flagOf(field string) string {
	if field == "password" {
		return "password (stdin)"
	}
	return field
}

// readPassword reads the password from a terminal prompt (twice, without
// echo) or, when stdin is not a terminal, from its first line. Never a flag:
// flags show up in process listings and shell history.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Repeat password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if subtle.ConstantTimeCompare(a, b) != 1 {
			return "", errors.New("the passwords do not match")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}
