//go:build !linux

package cvenv

func keepFreedMemory() {}
