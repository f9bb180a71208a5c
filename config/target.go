package config

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// UnmarshalYAML accepts "host:port" or {address: host:port, weight: N}.
// Unknown keys in the long form are refused, as everywhere in the config;
// LoadLB does not call this (its decoder handles Target with positions),
// it is here for callers decoding a Target with yaml.v3 directly.
func (t *Target) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*t = Target{Address: n.Value}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("want \"host:port\" or {address, weight}")
	}
	var out Target
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "address":
			if err := v.Decode(&out.Address); err != nil {
				return err
			}
		case "weight":
			if err := v.Decode(&out.Weight); err != nil {
				return err
			}
		default:
			return fmt.Errorf("line %d: unknown key %q in target", k.Line, k.Value)
		}
	}
	*t = out
	return nil
}
