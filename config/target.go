package config

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// UnmarshalYAML accepts "host:port" or {address: host:port, weight: N}.
func (t *Target) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*t = Target{Address: n.Value}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("want \"host:port\" or {address, weight}")
	}
	type plain Target
	var p plain
	dec := n
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*t = Target(p)
	return nil
}
