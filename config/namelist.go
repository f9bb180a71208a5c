package config

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// NameList is one item of a CloudFront cache or origin-request policy:
// "none", "all", or a list of names (CloudFront's allExcept is not
// offered). The zero value (Mode "") means none.
type NameList struct {
	// Mode is "none", "all" or "list".
	Mode  string   `json:"mode"`
	Names []string `json:"names,omitempty"`
}

// UnmarshalYAML accepts none, all, or a sequence of names.
func (l *NameList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Value {
		case "none", "":
			*l = NameList{Mode: "none"}
		case "all":
			*l = NameList{Mode: "all"}
		default:
			return fmt.Errorf("invalid value %q: want none, all, or a list of names", n.Value)
		}
		return nil
	case yaml.SequenceNode:
		var names []string
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: want a name", item.Line)
			}
			names = append(names, item.Value)
		}
		if len(names) == 0 {
			*l = NameList{Mode: "none"}
			return nil
		}
		*l = NameList{Mode: "list", Names: names}
		return nil
	}
	return fmt.Errorf("want none, all, or a list of names")
}

// MarshalYAML writes the scalar or the list.
func (l NameList) MarshalYAML() (any, error) {
	if l.Mode == "list" {
		return l.Names, nil
	}
	if l.Mode == "" {
		return "none", nil
	}
	return l.Mode, nil
}
