// Package atomicfile writes files so that an interrupted or failed write
// never leaves a half-written file: the data goes to a temporary file in the
// same directory, which is synced and renamed over the target.
//
// It is the one atomic writer of the module: nn writes weight files (and
// ssm its checkpoints, through nn) with it, and so does the ssm tool for
// its reports, data files and figures.
package atomicfile

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
)

// Write calls write with a buffered writer on a temporary file in path's
// directory, then syncs the file, gives it mode 0644, renames it to path and
// syncs the directory where the platform allows. A reader never sees a
// half-written path: it holds the old contents or the new ones. On error the
// temporary file is removed and path is untouched.
func Write(path string, write func(io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	closed = true
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename durable where the platform allows; failure to sync a
	// directory is not an error of the write.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Clean removes the temporary files that writes to path left behind when
// their process was killed before it could remove them (kill -9, a power
// cut), and returns how many it removed. Call it before writing path
// again, when no other process writes path.
func Clean(path string) (int, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	stale, err := filepath.Glob(filepath.Join(dir, "."+escapeGlob(base)+".tmp-*"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range stale {
		if st, err := os.Lstat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		if err := os.Remove(p); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// escapeGlob quotes the pattern characters of a file name.
func escapeGlob(name string) string {
	var b []byte
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '*', '?', '[', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// WriteBytes writes data to path atomically (see Write).
func WriteBytes(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
