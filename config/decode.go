package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// decoder turns a yaml.Node tree into config structs strictly: unknown and
// duplicate keys and values of the wrong kind are errors with the position
// of the offending node. It keeps going after an error so one pass reports
// everything, and it remembers where each path was written so the checks
// that run after defaults can point at the right line too.
type decoder struct {
	file  string
	errs  Errors
	nodes map[string]*yaml.Node // value node of every decoded path
	bad   map[string]bool       // paths whose value did not decode
	// badAbove holds every ancestor of a bad path.
	badAbove map[string]bool
	// budget bounds the nodes decoded: YAML aliases can make a small file
	// expand exponentially ("billion laughs"), and validate must finish.
	budget int
	capped bool
}

// Bounds on work and output for hostile or broken files. A config of
// 1 000 rules and 1 000 targets decodes about 30 000 nodes.
const (
	maxDecodeNodes = 500_000
	maxErrors      = 1000
)

func newDecoder(file string) *decoder {
	return &decoder{file: file, nodes: map[string]*yaml.Node{}, bad: map[string]bool{}, badAbove: map[string]bool{}, budget: maxDecodeNodes}
}

var (
	durationType = reflect.TypeFor[Duration]()
	sizeType     = reflect.TypeFor[Size]()
	targetType   = reflect.TypeFor[Target]()
	nameListType = reflect.TypeFor[NameList]()
)

// yamlLineRe finds the line number in yaml.v3 syntax errors ("yaml: line 3: ...").
var yamlLineRe = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// parse decodes data into v (a pointer to LB or Edge). A syntax error
// returns at once, as Errors with the one error yaml.v3 reports; problems
// of structure are collected in the decoder.
func parse(file string, data []byte, v any) (*decoder, error) {
	d := newDecoder(file)
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := 1, strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		return nil, Errors{{File: file, Line: line, Col: 1, Msg: "syntax error: " + msg}}
	}
	if len(doc.Content) == 0 {
		return nil, Errors{{File: file, Line: 1, Col: 1, Msg: "empty config: want a mapping of settings"}}
	}
	d.decode("", doc.Content[0], reflect.ValueOf(v).Elem())
	if d.budget < 0 {
		// Checks over a partly decoded tree would only add noise.
		return nil, d.errs.sort()
	}
	return d, nil
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// parent strips the last element of a path: a.b[2].c → a.b[2] → a.b → a → "".
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// node returns the node written at path or, when the field is missing, at
// its nearest ancestor (a missing key is reported at the mapping that
// lacks it).
func (d *decoder) node(path string) *yaml.Node {
	for {
		if n, ok := d.nodes[path]; ok {
			return n
		}
		if path == "" {
			return &yaml.Node{Line: 1, Column: 1}
		}
		path = parent(path)
	}
}

// has reports whether path was written in the file.
func (d *decoder) has(path string) bool {
	_, ok := d.nodes[path]
	return ok
}

// isBad reports whether path, one of its ancestors or one of its
// descendants failed to decode, so later checks stay quiet about values
// the user already hears about (and about conclusions drawn from them,
// such as "no condition" when the only condition had the wrong type).
// Both lookups cost the depth of the path, not the number of errors.
func (d *decoder) isBad(path string) bool {
	if d.badAbove[path] {
		return true
	}
	for {
		if d.bad[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parent(path)
	}
}

// markBad records path as undecodable, and each ancestor as having an
// undecodable descendant.
func (d *decoder) markBad(path string) {
	d.bad[path] = true
	for path != "" {
		path = parent(path)
		d.badAbove[path] = true
	}
}

func (d *decoder) errAt(n *yaml.Node, path, format string, args ...any) {
	if len(d.errs) >= maxErrors {
		d.capped = true
		return
	}
	d.errs = append(d.errs, &FieldError{File: d.file, Line: n.Line, Col: n.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// fail records a decode error and marks path bad.
func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.markBad(path)
	d.errAt(n, path, format, args...)
}

// errf is the check-time error: positioned at path's node (or ancestor's),
// suppressed when the value already failed to decode.
func (d *decoder) errf(path, format string, args ...any) {
	if d.isBad(path) {
		return
	}
	d.errAt(d.node(path), path, format, args...)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("%q", v)
	}
	return "an unsupported node"
}

func (d *decoder) decode(path string, n *yaml.Node, v reflect.Value) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.fail(n, path, "config too large: more than %d values after expanding aliases", maxDecodeNodes)
		}
		return
	}
	d.nodes[path] = n
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // null leaves the zero value, which the defaults fill in
	}
	switch v.Type() {
	case durationType, sizeType:
		u := v.Addr().Interface().(yaml.Unmarshaler)
		if n.Kind != yaml.ScalarNode {
			want := "a size such as 64MiB"
			if v.Type() == durationType {
				want = "a duration such as 30s"
			}
			d.fail(n, path, "want %s, got %s", want, kindName(n))
			return
		}
		if err := u.UnmarshalYAML(n); err != nil {
			d.fail(n, path, "%s", err.Error())
		}
		return
	case targetType:
		if n.Kind == yaml.ScalarNode {
			v.Addr().Interface().(*Target).Address = n.Value
			return
		}
	case nameListType:
		d.decodeNameList(path, n, v.Addr().Interface().(*NameList))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		d.decode(path, n, e.Elem())
		v.Set(e)
	case reflect.Struct:
		d.decodeStruct(path, n, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(fmt.Sprintf("%s[%d]", path, i), item, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "want a mapping, got %s", kindName(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		d.eachPair(path, n, func(k, val *yaml.Node) {
			e := reflect.New(v.Type().Elem()).Elem()
			d.decode(join(path, k.Value), val, e)
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
		})
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, path, "want a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64, reflect.Int32:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			d.fail(n, path, "want an integer, got %s", kindName(n))
			return
		}
		var x int64
		if err := n.Decode(&x); err != nil || v.OverflowInt(x) {
			d.fail(n, path, "integer %s out of range", n.Value)
			return
		}
		v.SetInt(x)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.fail(n, path, "want true or false, got %s", kindName(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.fail(n, path, "want true or false, got %s", kindName(n))
			return
		}
		v.SetBool(b)
	default:
		d.fail(n, path, "unsupported field type %s", v.Type())
	}
}

// eachPair calls f for each key/value of a mapping, following merge keys
// (<<) and refusing duplicate keys and keys that are not scalars.
func (d *decoder) eachPair(path string, n *yaml.Node, f func(k, v *yaml.Node)) {
	seen := map[string]*yaml.Node{}
	var walk func(m *yaml.Node, merged bool)
	walk = func(m *yaml.Node, merged bool) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.fail(k, path, "mapping key must be a scalar, got %s", kindName(k))
				continue
			}
			if k.Tag == "!!merge" {
				for v.Kind == yaml.AliasNode && v.Alias != nil {
					v = v.Alias
				}
				srcs := []*yaml.Node{v}
				if v.Kind == yaml.SequenceNode {
					srcs = v.Content
				}
				for _, s := range srcs {
					for s.Kind == yaml.AliasNode && s.Alias != nil {
						s = s.Alias
					}
					if s.Kind != yaml.MappingNode {
						d.fail(v, path, "merge key (<<) needs a mapping, got %s", kindName(s))
						continue
					}
					walk(s, true)
				}
				continue
			}
			if first, dup := seen[k.Value]; dup {
				if !merged {
					d.errAt(k, join(path, k.Value), "duplicate key (first at line %d)", first.Line)
				}
				continue
			}
			seen[k.Value] = k
			f(k, v)
		}
	}
	walk(n, false)
}

// field is one settable struct field and how it is written in YAML.
type field struct {
	index  int
	status bool // an HTTP status: accepts "503" and HTTP_301 as AWS writes them (tag config:"status")
}

type fieldTable struct {
	byName map[string]field
	names  []string
}

// fieldCache holds the field table of each struct type: building it per
// mapping was a fifth of the time of loading a 1 000-rule file.
var fieldCache sync.Map // reflect.Type → *fieldTable

func structFields(t reflect.Type) (map[string]field, []string) {
	if ft, ok := fieldCache.Load(t); ok {
		return ft.(*fieldTable).byName, ft.(*fieldTable).names
	}
	byName, names := buildFields(t)
	fieldCache.Store(t, &fieldTable{byName, names})
	return byName, names
}

func buildFields(t reflect.Type) (map[string]field, []string) {
	fields := map[string]field{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		fields[name] = field{index: i, status: sf.Tag.Get("config") == "status"}
		names = append(names, name)
	}
	return fields, names
}

func (d *decoder) decodeStruct(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got %s", kindName(n))
		return
	}
	fields, names := structFields(v.Type())
	d.eachPair(path, n, func(k, val *yaml.Node) {
		f, ok := fields[k.Value]
		p := join(path, k.Value)
		if !ok && path == "" && strings.HasPrefix(k.Value, "x-") {
			// Top-level x- keys are free for YAML anchors (as in Compose files).
			d.nodes[p] = val
			return
		}
		if !ok {
			msg := "unknown key"
			if s := suggest(k.Value, names); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			d.errAt(k, p, "%s", msg)
			return
		}
		fv := v.Field(f.index)
		if f.status && val.Kind == yaml.ScalarNode && val.Tag != "!!null" {
			// Status codes as AWS writes them: "503", HTTP_301.
			if code, err := strconv.Atoi(strings.TrimPrefix(val.Value, "HTTP_")); err == nil {
				d.nodes[p] = val
				fv.SetInt(int64(code))
				return
			}
		}
		d.decode(p, val, fv)
	})
}

func (d *decoder) decodeNameList(path string, n *yaml.Node, l *NameList) {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Value {
		case "none", "":
			*l = NameList{Mode: "none"}
		case "all":
			*l = NameList{Mode: "all"}
		default:
			d.fail(n, path, "invalid value %q: want none, all, or a list of names", n.Value)
		}
	case yaml.SequenceNode:
		names := make([]string, 0, len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.nodes[p] = item
			if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
				d.fail(item, p, "want a name, got %s", kindName(item))
				continue
			}
			names = append(names, item.Value)
		}
		if len(names) == 0 {
			*l = NameList{Mode: "none"}
			return
		}
		*l = NameList{Mode: "list", Names: names}
	default:
		d.fail(n, path, "want none, all, or a list of names, got %s", kindName(n))
	}
}

// suggest returns the known name closest to an unknown key when it is
// plausibly a typo (edit distance at most 2).
func suggest(key string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if dd := editDistance(key, n); dd < bestD {
			best, bestD = n, dd
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
