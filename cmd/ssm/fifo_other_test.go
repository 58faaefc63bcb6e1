//go:build !unix

package main

import "os"

// mkfifo stands in for a named pipe where there are none: an empty file
// (TestBadInput runs on Linux only).
func mkfifo(path string) error { return os.WriteFile(path, nil, 0o644) }
