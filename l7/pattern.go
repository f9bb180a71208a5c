package l7

import (
	"fmt"
)

// pattern is a compiled ALB wildcard: '*' matches zero or more bytes
// (crossing '/'), '?' exactly one, everything else itself. Escaped
// wildcards ("\*", "\?") are literals, as query-string conditions allow.
type pattern struct {
	src  string
	ops  []patOp
	fold bool // compare case-insensitively
	// lit holds the literal text when the pattern has no wildcard, so the
	// common exact case is one comparison.
	lit     string
	literal bool
}

type patOp struct {
	kind byte // 'l' literal byte, '?' any one, '*' any run
	b    byte
}

// maxPatternLen is the ALB limit on a condition value.
const maxPatternLen = 128

// compilePattern compiles s. escapes says whether "\*" and "\?" are literal.
func compilePattern(s string, fold, escapes bool) (pattern, int, error) {
	if s == "" {
		return pattern{}, 0, fmt.Errorf("empty value")
	}
	if len(s) > maxPatternLen {
		return pattern{}, 0, fmt.Errorf("value %q is longer than %d characters", s, maxPatternLen)
	}
	p := pattern{src: s, fold: fold}
	wild := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return pattern{}, 0, fmt.Errorf("value %q contains a control character", s)
		}
		switch {
		case escapes && c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\'):
			i++
			p.ops = append(p.ops, patOp{kind: 'l', b: foldIf(s[i], fold)})
		case c == '*':
			wild++
			// Collapse runs of '*': they mean the same and cost backtracking.
			if n := len(p.ops); n > 0 && p.ops[n-1].kind == '*' {
				continue
			}
			p.ops = append(p.ops, patOp{kind: '*'})
		case c == '?':
			wild++
			p.ops = append(p.ops, patOp{kind: '?'})
		default:
			p.ops = append(p.ops, patOp{kind: 'l', b: foldIf(c, fold)})
		}
	}
	if wild == 0 {
		p.literal = true
		b := make([]byte, len(p.ops))
		for i, op := range p.ops {
			b[i] = op.b
		}
		p.lit = string(b)
	}
	return p, wild, nil
}

func foldIf(c byte, fold bool) byte {
	if fold {
		return lower(c)
	}
	return c
}

// match reports whether s matches p. It never allocates; the backtracking
// is the classic single-star resume, O(len(p)·len(s)) at worst with both
// bounded (128-byte patterns).
func (p *pattern) match(s []byte) bool {
	if p.literal {
		if len(s) != len(p.lit) {
			return false
		}
		for i := range s {
			if foldIf(s[i], p.fold) != p.lit[i] {
				return false
			}
		}
		return true
	}
	ops := p.ops
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(ops) {
			op := ops[pi]
			switch op.kind {
			case '*':
				starP, starS = pi, si
				pi++
				continue
			case '?':
				pi++
				si++
				continue
			default:
				if foldIf(s[si], p.fold) == op.b {
					pi++
					si++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		pi, si = starP+1, starS
	}
	for pi < len(ops) && ops[pi].kind == '*' {
		pi++
	}
	return pi == len(ops)
}
