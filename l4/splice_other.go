//go:build !linux

package l4

import "errors"

// canSplice: splice(2) is Linux's; elsewhere bulk transfers are copied
// through the direction's buffer.
const canSplice = false

// errNoPipe: no splice here; copyTCP copies through its buffer.
var errNoPipe = errors.New("l4: splice: not on this system")

// splice is never reached here (copyTCP enters splice mode only where
// canSplice); should it be, the caller copies through its buffer.
func (d *direction) splice() (int64, error) { return 0, errNoPipe }
