// Package atomicfile is affect's one way to write a file so that it appears
// under its name complete or not at all: the bytes go to a temporary file in
// the same directory, which is synced, closed and renamed over the final
// name. A Set commits several files together (an input's result files): all
// of them are written and synced before the first is renamed, and on any
// failure every temporary file is removed and every file of the set already
// renamed is removed again, so a failed job leaves none of its files behind.
//
// It depends on nothing but the standard library, so that every package
// (export, report, models/convert, samples, cmd/affect) can use it.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// TempPrefix starts the name of every temporary file (".NAME.tmp-*"): readers
// of a result directory skip names starting with ".".
const TempPrefix = "."

// File is a file that appears under its name only when it is committed.
type File struct {
	f     *os.File
	path  string
	state int // 0 writing, 1 prepared (synced and closed), 2 done
}

// Create starts writing path atomically. Its directory must exist.
func Create(path string) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), TempPrefix+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return &File{f: f, path: path}, nil
}

// Path is the final name of the file.
func (a *File) Path() string { return a.path }

// Write writes to the temporary file.
func (a *File) Write(p []byte) (int, error) {
	if a.state != 0 {
		return 0, fmt.Errorf("writing %s: already committed or aborted", a.path)
	}
	return a.f.Write(p)
}

// prepare syncs and closes the temporary file and gives it its final mode.
func (a *File) prepare() error {
	if a.state != 0 {
		return fmt.Errorf("writing %s: already committed or aborted", a.path)
	}
	a.state = 1
	err := a.f.Sync()
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(a.f.Name(), 0o644)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", a.path, err)
	}
	return nil
}

func (a *File) rename() error {
	if err := os.Rename(a.f.Name(), a.path); err != nil {
		return fmt.Errorf("writing %s: %w", a.path, err)
	}
	a.state = 2
	return nil
}

// Commit syncs the temporary file and renames it to its final name. On
// failure the temporary file is removed.
func (a *File) Commit() error {
	err := a.prepare()
	if err == nil {
		err = a.rename()
	}
	if err != nil {
		a.Abort()
	}
	return err
}

// Abort removes the temporary file; it is a no-op after Commit.
func (a *File) Abort() {
	switch a.state {
	case 0:
		a.f.Close()
		fallthrough
	case 1:
		os.Remove(a.f.Name())
	}
	a.state = 2
}

// WriteFile writes path atomically with the bytes fn writes.
func WriteFile(path string, fn func(w io.Writer) error) error {
	a, err := Create(path)
	if err != nil {
		return err
	}
	if err := fn(a); err != nil {
		a.Abort()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return a.Commit()
}

// WriteBytes writes b to path atomically.
func WriteBytes(path string, b []byte) error {
	return WriteFile(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// Set is a group of files committed together: all or none. The zero value is
// ready to use. A Set is not safe for concurrent use.
type Set struct {
	files []*File
}

// Create starts writing path as part of the set.
func (s *Set) Create(path string) (*File, error) {
	for _, f := range s.files {
		if f.path == path {
			return nil, fmt.Errorf("writing %s: the file is already part of this result (two outputs with one name)", path)
		}
	}
	a, err := Create(path)
	if err != nil {
		return nil, err
	}
	s.files = append(s.files, a)
	return a, nil
}

// WriteFile writes path as part of the set with the bytes fn writes. On
// error the whole set is aborted.
func (s *Set) WriteFile(path string, fn func(w io.Writer) error) error {
	a, err := s.Create(path)
	if err != nil {
		s.Abort()
		return err
	}
	if err := fn(a); err != nil {
		s.Abort()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Commit syncs every file, then renames them in the order they were created
// (so the last one created, a summary, appears last). If any step fails,
// nothing of the set is left: temporary files are removed, and files of the
// set already renamed are removed again.
func (s *Set) Commit() error {
	for _, f := range s.files {
		if err := f.prepare(); err != nil {
			s.Abort()
			return err
		}
	}
	for i, f := range s.files {
		if err := f.rename(); err != nil {
			for _, done := range s.files[:i] {
				os.Remove(done.path)
			}
			s.Abort()
			return err
		}
	}
	s.files = nil
	return nil
}

// Abort removes every temporary file of the set.
func (s *Set) Abort() {
	for _, f := range s.files {
		f.Abort()
	}
	s.files = nil
}
