package metrics

import (
	"cmp"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// Gatherer is what /metrics serves: the families of a registry plus the
// traffic families of a Collector, built directly from the shards. The
// traffic families are up to three samples per series (30,000 at the
// default budget): the registry's generic path (const metrics, per-sample
// consistency checks and hashing, sorting) cost about 100 ms of CPU per
// scrape for them. Here each series' label pairs are built once (a
// series' labels never change), the series are kept in exposition order,
// and a scrape only fills in the values.
type Gatherer struct {
	reg prometheus.Gatherer
	c   *Collector

	mu     sync.Mutex
	pairs  [][]*dto.LabelPair // by series id
	order  []int              // series ids in label order
	sorted int                // len(labels) when order was made
}

// NewGatherer returns a Gatherer over reg, in which c is registered; from
// then on c's Collect leaves the traffic families to the Gatherer.
func NewGatherer(reg prometheus.Gatherer, c *Collector) *Gatherer {
	c.external.Store(true)
	return &Gatherer{reg: reg, c: c}
}

// Gather implements prometheus.Gatherer.
func (g *Gatherer) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := g.reg.Gather()
	if err != nil {
		return mfs, err
	}
	mfs = append(mfs, g.traffic()...)
	slices.SortFunc(mfs, func(a, b *dto.MetricFamily) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return mfs, nil
}

// traffic returns the traffic families, their series in label order.
func (g *Gatherer) traffic() []*dto.MetricFamily {
	series := g.c.src.Series()
	labels := series.Labels()
	t := SumShards(g.c.src.Shards(), len(labels))
	g.mu.Lock()
	opts := series.Options()
	names := TrafficLabelNames(opts)
	for id := len(g.pairs); id < len(labels); id++ {
		g.pairs = append(g.pairs, labelPairs(names, opts, labels[id], id))
	}
	if g.sorted != len(labels) {
		g.order = g.order[:0]
		for id := 1; id < len(labels); id++ {
			g.order = append(g.order, id)
		}
		slices.SortFunc(g.order, func(a, b int) int { return comparePairs(g.pairs[a], g.pairs[b]) })
		g.sorted = len(labels)
	}
	order, pairs := g.order, g.pairs
	g.mu.Unlock()

	n := len(order)
	if n == 0 {
		// No series yet (nothing placed): no families, as the registry's
		// path gives; an empty family is invalid in the exposition.
		return nil
	}
	ms := make([]dto.Metric, 3*n)
	cs := make([]dto.Counter, 3*n)
	vs := make([]float64, 3*n)
	ptrs := make([]*dto.Metric, 3*n)
	fam := func(k int, name, help string, values []uint64) *dto.MetricFamily {
		part := ptrs[k*n : (k+1)*n]
		for i, id := range order {
			j := k*n + i
			vs[j] = float64(values[id])
			cs[j].Value = &vs[j]
			ms[j].Label = pairs[id]
			ms[j].Counter = &cs[j]
			part[i] = &ms[j]
		}
		return &dto.MetricFamily{Name: proto.String(name), Help: proto.String(help), Type: dto.MetricType_COUNTER.Enum(), Metric: part}
	}
	return []*dto.MetricFamily{
		fam(0, namespace+"_traffic_bytes_total", helpTrafficBytes, t.Bytes),
		fam(1, namespace+"_traffic_packets_total", helpTrafficPackets, t.Packets),
		fam(2, namespace+"_flows_total", helpFlows, t.Flows),
	}
}

// labelPairs returns the label pairs of l sorted by name, as the
// exposition wants them.
func labelPairs(names []string, opts SeriesOptions, l Labels, id int) []*dto.LabelPair {
	if id == 0 {
		return nil
	}
	// Three allocations per series, not two per label: the pairs in one
	// block, their names and values pointing into names and values.
	values := l.values(opts)
	block := make([]dto.LabelPair, len(names))
	ps := make([]*dto.LabelPair, len(names))
	for i := range names {
		block[i].Name, block[i].Value = &names[i], &values[i]
		ps[i] = &block[i]
	}
	slices.SortFunc(ps, func(a, b *dto.LabelPair) int { return cmp.Compare(a.GetName(), b.GetName()) })
	return ps
}

func comparePairs(a, b []*dto.LabelPair) int {
	for i := range a {
		if c := cmp.Compare(a[i].GetValue(), b[i].GetValue()); c != 0 {
			return c
		}
	}
	return 0
}

// values returns l's label values in TrafficLabelNames order.
func (l Labels) values(o SeriesOptions) []string {
	lv := []string{l.Direction, l.Country, l.Provider, l.App, l.Region, l.ClientGroup, l.Basis, l.OperatorCountry}
	if o.ASN {
		lv = append(lv, l.ASN)
	}
	if o.CloudRegion {
		lv = append(lv, l.CloudRegion)
	}
	return lv
}
