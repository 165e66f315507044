//go:build linux

package main

import (
	"golang.org/x/sys/unix"
)

// dropCapabilities keeps only CAP_NET_RAW (to reopen a socket when an
// interface returns) and, for promiscuous mode, CAP_NET_ADMIN: every other
// capability is dropped from the effective, permitted and inheritable sets,
// and the ambient set is cleared.
func dropCapabilities(promisc bool) error {
	keep := uint32(1) << unix.CAP_NET_RAW
	if promisc {
		keep |= 1 << unix.CAP_NET_ADMIN
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[0].Effective &= keep
	data[0].Permitted &= keep
	data[0].Inheritable = 0
	data[1] = unix.CapUserData{}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return err
	}
	return unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
}
