// Package e2e holds borderwatch's end-to-end tests that need root: live
// capture on a veth pair into a network namespace of the test's own.
package e2e
