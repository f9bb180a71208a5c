package config

// LB is the whole lb config file (SPEC §2.1). It is plain data: compiling it
// into running objects is the job of cmd/lb.
type LB struct {
	Admin           Admin         `yaml:"admin" json:"admin"`
	ShutdownTimeout Duration      `yaml:"shutdown_timeout" json:"shutdown_timeout"`
	AccessLog       AccessLog     `yaml:"access_log" json:"access_log"`
	Listeners       []Listener    `yaml:"listeners" json:"listeners"`
	TargetGroups    []TargetGroup `yaml:"target_groups" json:"target_groups"`
	// CookieSecret authenticates the stickiness cookies (AWSALB,
	// AWSALBAPP-0, AWSALBTG and their CORS twins). Empty: a random secret
	// per process, so cookies stick only to the process that set them;
	// several lb processes behind one name (or one restarted) need the same
	// secret for clients to stay on their targets.
	CookieSecret Secret `yaml:"cookie_secret" json:"cookie_secret,omitempty"`
}

// Listener accepts connections on one address and routes them by its rules.
type Listener struct {
	Name             string           `yaml:"name" json:"name"`
	Protocol         string           `yaml:"protocol" json:"protocol"` // HTTP | HTTPS | TCP | TLS
	Address          string           `yaml:"address" json:"address"`
	IdleTimeout      Duration         `yaml:"idle_timeout" json:"idle_timeout"`
	XFF              string           `yaml:"xff" json:"xff"` // append | preserve | remove
	XFFClientPort    bool             `yaml:"xff_client_port" json:"xff_client_port"`
	DesyncMitigation string           `yaml:"desync_mitigation" json:"desync_mitigation"`
	ProxyProtocol    *ProxyProtocolIn `yaml:"proxy_protocol" json:"proxy_protocol,omitempty"`
	SSLPolicy        string           `yaml:"ssl_policy" json:"ssl_policy,omitempty"`
	Certificates     []Certificate    `yaml:"certificates" json:"certificates,omitempty"`
	ACME             *ACME            `yaml:"acme" json:"acme,omitempty"`
	// ALPNPolicy is the NLB TLS listener ALPN policy: HTTP1Only, HTTP2Only,
	// HTTP2Optional, HTTP2Preferred or None (default).
	ALPNPolicy    string `yaml:"alpn_policy" json:"alpn_policy,omitempty"`
	Rules         []Rule `yaml:"rules" json:"rules,omitempty"`
	DefaultAction Action `yaml:"default_action" json:"default_action"`
}

// Rule is one listener rule: when all its conditions hold, its action runs.
type Rule struct {
	Priority   int        `yaml:"priority" json:"priority"`
	Conditions Conditions `yaml:"conditions" json:"conditions"`
	Action     Action     `yaml:"action" json:"action"`
}

// Conditions are ANDed across kinds and ORed within one kind's list.
type Conditions struct {
	Host     []string            `yaml:"host" json:"host,omitempty"`
	Path     []string            `yaml:"path" json:"path,omitempty"`
	Method   []string            `yaml:"method" json:"method,omitempty"`
	SourceIP []string            `yaml:"source_ip" json:"source_ip,omitempty"`
	Header   map[string][]string `yaml:"header" json:"header,omitempty"`
	Query    []QueryMatch        `yaml:"query" json:"query,omitempty"`
}

// QueryMatch matches one query-string pair; an empty Key matches the value under any key.
type QueryMatch struct {
	Key   string `yaml:"key" json:"key,omitempty"`
	Value string `yaml:"value" json:"value"`
}

// Action is exactly one of forward, redirect or fixed_response.
type Action struct {
	Forward       *Forward       `yaml:"forward" json:"forward,omitempty"`
	Redirect      *Redirect      `yaml:"redirect" json:"redirect,omitempty"`
	FixedResponse *FixedResponse `yaml:"fixed_response" json:"fixed_response,omitempty"`
}

// Forward sends the request to one target group, or splits it across up to 5 by weight.
type Forward struct {
	// TargetGroup is the short form for a single group.
	TargetGroup  string          `yaml:"target_group" json:"target_group,omitempty"`
	TargetGroups []WeightedGroup `yaml:"target_groups" json:"target_groups,omitempty"`
	// Stickiness pins a client to one weighted group with the AWSALBTG cookie; 0 = off.
	Stickiness Duration `yaml:"stickiness" json:"stickiness,omitempty"`
}

// WeightedGroup is one group of a weighted forward.
type WeightedGroup struct {
	Name   string `yaml:"name" json:"name"`
	Weight *int   `yaml:"weight" json:"weight,omitempty"`
}

// Redirect answers with a redirect built from #{protocol} #{host} #{port} #{path} #{query}.
type Redirect struct {
	Protocol string `yaml:"protocol" json:"protocol,omitempty"`
	Host     string `yaml:"host" json:"host,omitempty"`
	Port     string `yaml:"port" json:"port,omitempty"`
	Path     string `yaml:"path" json:"path,omitempty"`
	Query    string `yaml:"query" json:"query,omitempty"`
	Status   int    `yaml:"status" json:"status" config:"status"` // 301 | 302 (HTTP_301 | HTTP_302 accepted)
}

// FixedResponse answers from the load balancer itself.
type FixedResponse struct {
	Status      int    `yaml:"status" json:"status" config:"status"` // 2XX | 4XX | 5XX ("503" accepted)
	ContentType string `yaml:"content_type" json:"content_type,omitempty"`
	Body        string `yaml:"body" json:"body,omitempty"`
}

// TargetGroup is a named set of targets with a balancing algorithm and health check.
type TargetGroup struct {
	Name                string      `yaml:"name" json:"name"`
	Protocol            string      `yaml:"protocol" json:"protocol"` // HTTP | HTTPS | TCP | TLS
	Targets             []Target    `yaml:"targets" json:"targets"`
	Algorithm           string      `yaml:"algorithm" json:"algorithm"`
	DeregistrationDelay *Duration   `yaml:"deregistration_delay" json:"deregistration_delay"`
	SlowStart           Duration    `yaml:"slow_start" json:"slow_start"`
	Stickiness          *Stickiness `yaml:"stickiness" json:"stickiness,omitempty"`
	HealthCheck         HealthCheck `yaml:"health_check" json:"health_check"`
	ProxyProtocolV2     bool        `yaml:"proxy_protocol_v2" json:"proxy_protocol_v2,omitempty"`
	// ProxyProtocolEndpointID, when set, is sent as the AWS 0xEA/0x01 TLV.
	ProxyProtocolEndpointID string `yaml:"proxy_protocol_endpoint_id" json:"proxy_protocol_endpoint_id,omitempty"`
	ConnectionTermination   bool   `yaml:"connection_termination" json:"connection_termination,omitempty"`
}

// Target is "host:port", or {address, weight} in the long form (weight for weighted_random / flow_hash).
type Target struct {
	Address string `yaml:"address" json:"id"`
	Weight  int    `yaml:"weight" json:"weight,omitempty"`
}

// Stickiness is target-level session affinity.
type Stickiness struct {
	Type       string   `yaml:"type" json:"type"` // lb_cookie | app_cookie | source_ip
	Duration   Duration `yaml:"duration" json:"duration"`
	CookieName string   `yaml:"cookie_name" json:"cookie_name,omitempty"`
}

// HealthCheck configures the active checks of a target group.
type HealthCheck struct {
	Protocol           string   `yaml:"protocol" json:"protocol"`
	Port               string   `yaml:"port" json:"port"` // traffic-port or a number
	Path               string   `yaml:"path" json:"path,omitempty"`
	Interval           Duration `yaml:"interval" json:"interval"`
	Timeout            Duration `yaml:"timeout" json:"timeout"`
	HealthyThreshold   int      `yaml:"healthy_threshold" json:"healthy_threshold"`
	UnhealthyThreshold int      `yaml:"unhealthy_threshold" json:"unhealthy_threshold"`
	Matcher            string   `yaml:"matcher" json:"matcher,omitempty"`
	// Enabled is false only when set explicitly; AWS has checks always on for ALB.
	Enabled *bool `yaml:"enabled" json:"enabled,omitempty"`
}
