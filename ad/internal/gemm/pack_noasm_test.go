//go:build !amd64 || purego

package gemm

// packAsmImpls is empty: this build has no assembly transposes.
func packAsmImpls() []packImpl { return nil }
