package edge

// matchPattern reports whether path matches a CloudFront path pattern:
// '*' matches any run of bytes (including '/'), '?' exactly one byte, and
// everything else itself, case-sensitively (cloudfront.md §6.1). The
// pattern is stored with its leading '/' (added at compile time when the
// config omits it). It allocates nothing; the backtracking is the classic
// single-star restart, linear in practice and O(len(p)·len(s)) at worst.
func matchPattern(p string, s []byte) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
