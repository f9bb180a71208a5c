// Package health runs the active health checks of target groups and turns
// their results, and the connection failures the data path reports, into
// target states in the runtime registry, with ELB's rules: a new target
// needs one passing check to go from initial to healthy, an unhealthy one
// needs healthy_threshold consecutive passes to return, and
// unhealthy_threshold consecutive failures (active or passive) make a
// target unhealthy. Checks are HTTP or HTTPS (GET path, status matcher,
// User-Agent ELB-HealthChecker/2.0, Host <target-ip>:<port>, no certificate
// verification, connection closed after the check) or TCP (a connect).
//
// It does not route (when every target is unhealthy the group's View fails
// open by itself; the Checker logs it and exposes it in Stats) and does not
// parse YAML (FromConfig takes the plain config.HealthCheck).
//
//	cfg, err := health.FromConfig("HTTP", tg.HealthCheck)
//	if err != nil { return err }
//	chk := health.NewChecker(reg.Group(tg.Name), cfg, health.Options{Logger: log})
//	chk.Start(ctx)      // checks every registered target, and later ones too
//	defer chk.Stop()
//	chk.Update(newCfg)  // on reload
//	target.ReportFailure() // from the data path, on a connect error
package health
