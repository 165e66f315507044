package report

import (
	"github.com/borderwatch/borderwatch/capture"
	"github.com/borderwatch/borderwatch/flow"
)

type reason struct {
	id   capture.Reason
	name string
	err  bool
}

func captureSkipReasons() []reason {
	var out []reason
	for _, r := range capture.SkipReasons {
		out = append(out, reason{r, r.String(), false})
	}
	for _, r := range capture.ErrorReasons {
		out = append(out, reason{r, r.String(), true})
	}
	return out
}

func evictNames() []string {
	return []string{flow.EvictIdle.String(), flow.EvictActive.String(), flow.EvictCapacity.String()}
}
