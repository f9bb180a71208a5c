package config_test

import (
	"errors"
	"fmt"

	"github.com/switchyard/switchyard/config"
)

func ExampleParseLB() {
	src := []byte(`listeners:
  - name: web
    address: 127.0.0.1:8080
    rules:
      - priority: 10
        conditions: {path: ["/api/*"], method: [get]}
        action: {forward: {target_group: api}}
    default_action: {forward: {target_group: web}}
target_groups:
  - name: web
    targets: ["127.0.0.1:9001"]
    algorithm: fastest
`)
	_, err := config.ParseLB("lb.yaml", src)
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Println(e)
		}
	}
	// Output:
	// lb.yaml:6:49: listeners[0].rules[0].conditions.method[0]: invalid method "get": want A-Z, - and _ (methods match case-sensitively)
	// lb.yaml:7:42: listeners[0].rules[0].action.forward.target_group: unknown target group "api"
	// lb.yaml:12:16: target_groups[0].algorithm: invalid value "fastest": want one of round_robin, least_outstanding_requests, weighted_random
}

func ExampleSummaryLB() {
	cfg, err := config.ParseLB("lb.yaml", []byte(`listeners:
  - {name: web, address: "127.0.0.1:8080", default_action: {forward: {target_group: web}}}
target_groups:
  - {name: web, targets: ["127.0.0.1:9001", "127.0.0.1:9002"]}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(config.SummaryLB("lb.yaml", cfg) == "lb.yaml: ok: 1 listener, 0 rules, 1 target group, 2 targets; hash "+config.Hash(cfg))
	fmt.Println(cfg.TargetGroups[0].HealthCheck.Interval, cfg.Listeners[0].IdleTimeout, cfg.Admin.Address)
	// Output:
	// true
	// 30s 1m0s 127.0.0.1:9901
}
