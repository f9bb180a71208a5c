package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
)

// Hash is a stable fingerprint of a loaded (defaulted) config: the first
// 16 hex digits of a SHA-256 over a canonical encoding of v (field names,
// values, map keys sorted). Two files that load to the same settings hash
// the same whatever their layout, comments or key order. Secret values are
// included, so changing the admin token or an origin secret changes the
// hash; the hash does not reveal them.
func Hash(v any) string {
	h := sha256.New()
	canon(h, reflect.ValueOf(v))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func canon(w io.Writer, v reflect.Value) {
	switch v.Kind() {
	case reflect.Invalid:
		io.WriteString(w, "~")
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			io.WriteString(w, "~")
			return
		}
		canon(w, v.Elem())
	case reflect.Struct:
		t := v.Type()
		io.WriteString(w, "{")
		for i := 0; i < t.NumField(); i++ {
			if !t.Field(i).IsExported() {
				continue
			}
			fmt.Fprintf(w, "%s:", t.Field(i).Name)
			canon(w, v.Field(i))
			io.WriteString(w, ";")
		}
		io.WriteString(w, "}")
	case reflect.Slice, reflect.Array:
		fmt.Fprintf(w, "[%d:", v.Len())
		for i := 0; i < v.Len(); i++ {
			canon(w, v.Index(i))
			io.WriteString(w, ",")
		}
		io.WriteString(w, "]")
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		fmt.Fprintf(w, "<%d:", len(keys))
		for _, k := range keys {
			canon(w, k)
			io.WriteString(w, "=")
			canon(w, v.MapIndex(k))
			io.WriteString(w, ",")
		}
		io.WriteString(w, ">")
	case reflect.String:
		io.WriteString(w, strconv.Quote(v.String()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		io.WriteString(w, strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		io.WriteString(w, strconv.FormatUint(v.Uint(), 10))
	case reflect.Bool:
		io.WriteString(w, strconv.FormatBool(v.Bool()))
	case reflect.Float32, reflect.Float64:
		io.WriteString(w, strconv.FormatFloat(v.Float(), 'g', -1, 64))
	default:
		fmt.Fprintf(w, "?%s", v.Kind())
	}
}

// SummaryLB is the line `lb validate` prints for a good file:
// "lb.yaml: ok: 3 listeners, 5 rules, 2 target groups, 4 targets; hash 1f2e3d4c5b6a7988".
func SummaryLB(filename string, c *LB) string {
	rules, targets := 0, 0
	for _, l := range c.Listeners {
		rules += len(l.Rules)
	}
	for _, g := range c.TargetGroups {
		targets += len(g.Targets)
	}
	return fmt.Sprintf("%s: ok: %s, %s, %s, %s; hash %s", filename,
		plural(len(c.Listeners), "listener"), plural(rules, "rule"),
		plural(len(c.TargetGroups), "target group"), plural(targets, "target"), Hash(c))
}

// SummaryEdge is the line `edge validate` prints for a good file:
// "edge.yaml: ok: 2 listeners, 1 distribution, 2 origins, 2 cache behaviors; hash …".
// Cache behaviours count the default one of each distribution.
func SummaryEdge(filename string, c *Edge) string {
	origins, behaviors := 0, 0
	for _, d := range c.Distributions {
		origins += len(d.Origins)
		behaviors += 1 + len(d.CacheBehaviors)
	}
	return fmt.Sprintf("%s: ok: %s, %s, %s, %s; hash %s", filename,
		plural(len(c.Listeners), "listener"), plural(len(c.Distributions), "distribution"),
		plural(origins, "origin"), plural(behaviors, "cache behavior"), Hash(c))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
