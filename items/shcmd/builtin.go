package shcmd

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// builtin is a discovering command that sh runs without starting a
// process, and whose result this package can know as well without
// starting sh: simple commands joined by && and ||, each of them
//
//	echo WORD...            (no word starting with -)
//	test -e|-f|-d|-s|-L|-h WORD
//	[ -e|-f|-d|-s|-L|-h WORD ]
//	true
//	false
//
// where every word is plain (see plain): no expansion, quoting,
// redirection or second line. Such a command is what most `current`
// commands of files look like ("test -f out && echo built || echo
// absent"); knowing it costs a stat or two instead of a process.
type builtin struct {
	cmds []simple
	// ors[i] joins cmds[i] and cmds[i+1]: || when true, && when false.
	ors []bool
}

// simple is one command of a builtin: echo (args are the words), test
// (op and one operand), true or false.
type simple struct {
	name string // "echo", "test", "true", "false"
	args []string
}

// parseBuiltin returns script as a builtin, or nil when it is anything
// else; sh then runs it.
func parseBuiltin(script string) *builtin {
	if strings.ContainsAny(script, "\n\r") {
		return nil
	}
	words := strings.FieldsFunc(script, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(words) == 0 {
		return nil
	}
	b := &builtin{}
	var cur []string
	end := func() bool {
		c, ok := parseSimple(cur)
		if ok {
			b.cmds = append(b.cmds, c)
		}
		cur = nil
		return ok
	}
	for _, w := range words {
		if w == "&&" || w == "||" {
			if !end() {
				return nil
			}
			b.ors = append(b.ors, w == "||")
			continue
		}
		cur = append(cur, w)
	}
	if !end() {
		return nil
	}
	return b
}

func parseSimple(words []string) (simple, bool) {
	if len(words) == 0 {
		return simple{}, false
	}
	name, args := words[0], words[1:]
	if name == "[" {
		if len(args) == 0 || args[len(args)-1] != "]" {
			return simple{}, false
		}
		name, args = "test", args[:len(args)-1]
	}
	for _, w := range args {
		if !plainWord(w) {
			return simple{}, false
		}
	}
	switch name {
	case "echo":
		for _, w := range args {
			if w[0] == '-' {
				return simple{}, false
			}
		}
	case "test":
		if len(args) != 2 || args[1][0] == '-' {
			return simple{}, false
		}
		switch args[0] {
		case "-e", "-f", "-d", "-s", "-L", "-h":
		default:
			return simple{}, false
		}
	case "true", "false":
		if len(args) != 0 {
			return simple{}, false
		}
	default:
		return simple{}, false
	}
	return simple{name: name, args: args}, true
}

func plainWord(w string) bool {
	for _, c := range w {
		if !plain(c) {
			return false
		}
	}
	return w != ""
}

// eval works out what sh -c would print in dir, trimmed, when the command
// succeeds. ok is false when sh must run it after all: it would fail (the
// shell's own message and status are then the ones reported), or dir is
// not one sh could start in.
func (b *builtin) eval(dir string) (state string, ok bool) {
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || syscall.Access(dir, 1 /* X_OK */) != nil {
			return "", false
		}
	}
	var out strings.Builder
	status := b.cmds[0].run(dir, &out)
	for i, or := range b.ors {
		if or == (status != 0) {
			status = b.cmds[i+1].run(dir, &out)
		}
	}
	if status != 0 {
		return "", false
	}
	return strings.TrimSpace(out.String()), true
}

// run is what the shell's builtin does: its exit status, and what echo
// prints.
func (c simple) run(dir string, out *strings.Builder) int {
	switch c.name {
	case "echo":
		out.WriteString(strings.Join(c.args, " "))
		out.WriteByte('\n')
		return 0
	case "true":
		return 0
	case "false":
		return 1
	}
	path := c.args[1]
	if dir != "" && !filepath.IsAbs(path) {
		// Joined as the kernel resolves it from dir, not cleaned: "a/.."
		// through a symlink a, or "file/", mean what they mean to sh.
		path = dir + "/" + path
	}
	var fi os.FileInfo
	var err error
	if c.args[0] == "-L" || c.args[0] == "-h" {
		fi, err = os.Lstat(path)
	} else {
		fi, err = os.Stat(path)
	}
	var yes bool
	if err == nil {
		switch c.args[0] {
		case "-e":
			yes = true
		case "-f":
			yes = fi.Mode().IsRegular()
		case "-d":
			yes = fi.IsDir()
		case "-s":
			yes = fi.Size() > 0
		case "-L", "-h":
			yes = fi.Mode()&os.ModeSymlink != 0
		}
	}
	if yes {
		return 0
	}
	return 1
}

// importsFunctions reports whether env holds a function bash would define
// at its start (BASH_FUNC_name%%): where sh is bash, such a function named
// echo or test would run in place of the builtin.
func importsFunctions(env []string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, "BASH_FUNC_") {
			return true
		}
	}
	return false
}
