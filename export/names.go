package export

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
)

// BaseName turns an input path or URL into a file base name: its file name
// without extension. Letters and digits of every script are kept (a name is
// never mangled to underscores); separators, spaces, control characters and
// the characters some file systems refuse (<>:"/\|?*) become "_".
func BaseName(input string) string {
	parts := nameParts(input)
	stem, _ := splitExt(parts[len(parts)-1])
	return cleanName(stem)
}

func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '-', r == '_', r == '.', unicode.IsLetter(r), unicode.IsDigit(r), unicode.IsMark(r):
			return r
		}
		return '_'
	}, s)
	if s == "" || s == "." || s == ".." {
		s = "input"
	}
	return s
}

// nameParts splits an input (a path or a URL) into its non-empty components,
// the file name last; a URL's scheme is left out and its host kept.
func nameParts(input string) []string {
	s := input
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	var parts []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == '/' || r == filepath.Separator }) {
		if p != "." && p != ".." {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		parts = []string{"input"}
	}
	return parts
}

func splitExt(name string) (stem, ext string) {
	ext = filepath.Ext(name)
	if ext == "" || len(ext) >= len(name) {
		return name, ""
	}
	return strings.TrimSuffix(name, ext), ext
}

// BaseNames returns one result base name per input, in order: distinct from
// each other even on a case-insensitive file system, deterministic (the same
// inputs in the same order give the same names) and readable. Each starts as
// BaseName(input); where two or more inputs would share a name, the
// extension is kept when theirs differ (y.jpg, y.png → "y.jpg", "y.png"),
// else their parent folders are prefixed one at a time (P01/face.jpg,
// P02/face.jpg → "P01_face", "P02_face"); inputs that still collide (the
// same path twice) get "-2", "-3"... in input order.
func BaseNames(inputs []string) []string {
	type cand struct {
		parents   []string // nearest first
		stem, ext string
		level     int
		withExt   bool
	}
	cs := make([]cand, len(inputs))
	for i, in := range inputs {
		parts := nameParts(in)
		stem, ext := splitExt(parts[len(parts)-1])
		c := cand{stem: stem, ext: ext}
		for j := len(parts) - 2; j >= 0; j-- {
			c.parents = append(c.parents, parts[j])
		}
		cs[i] = c
	}
	name := func(c cand) string {
		n := c.stem
		if c.withExt {
			n += c.ext
		}
		n = cleanName(n)
		for k := 0; k < c.level; k++ {
			n = cleanName(c.parents[k]) + "_" + n
		}
		return n
	}
	for range 64 {
		groups := map[string][]int{}
		var keys []string
		for i, c := range cs {
			k := strings.ToLower(name(c))
			if len(groups[k]) == 0 {
				keys = append(keys, k)
			}
			groups[k] = append(groups[k], i)
		}
		changed := false
		for _, k := range keys {
			g := groups[k]
			if len(g) < 2 {
				continue
			}
			exts := map[string]bool{}
			for _, i := range g {
				exts[strings.ToLower(cs[i].ext)] = true
			}
			if len(exts) > 1 && !cs[g[0]].withExt {
				for _, i := range g {
					cs[i].withExt = true
				}
				changed = true
				continue
			}
			for _, i := range g {
				if cs[i].level < len(cs[i].parents) {
					cs[i].level++
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	out := make([]string, len(cs))
	used := map[string]bool{}
	for i, c := range cs {
		n := name(c)
		for k := 2; used[strings.ToLower(n)]; k++ {
			n = fmt.Sprintf("%s-%d", name(c), k)
		}
		used[strings.ToLower(n)] = true
		out[i] = n
	}
	return out
}
