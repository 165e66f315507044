//go:build linux

package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/borderwatch/borderwatch/pipeline"
	"github.com/prometheus/client_golang/prometheus"
)

// startLive starts AF_PACKET capture on o.interfaces.
func startLive(ctx context.Context, o *options, p *pipeline.Pipeline, logger *slog.Logger, reg prometheus.Registerer, wg *sync.WaitGroup) error {
	return errors.New("live capture is not wired yet")
}
