// Package dashboards holds borderwatch's Grafana dashboards (JSON,
// generated from dashboards.go by `go test ./dashboards -update`), its
// Prometheus recording and alerting rules (rules/), and the tests that prove
// them: promtool unit tests for every alert, a check that every query uses
// only metrics borderwatch exports, and an end-to-end run against a real
// Prometheus server.
package dashboards
