//go:build !linux

package cache

import (
	"errors"
	"os"
)

// createBodyFile: body files need Linux's memfd; elsewhere bodies stay in
// memory and hits are copied.
func createBodyFile([]byte) (*os.File, error) {
	return nil, errors.New("cache: body files need Linux")
}
