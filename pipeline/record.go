package pipeline

import (
	"net/netip"

	"github.com/borderwatch/borderwatch/flow"
	"github.com/borderwatch/borderwatch/place"
)

// Record is a pre-aggregated flow record, as a flow exporter (NetFlow,
// IPFIX, sFlow) sends it: the traffic of one direction of a flow, from Src
// to Dst, over a span of time. It is counted and placed exactly like the
// packets it stands for.
type Record struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
	// Bytes are IP-layer bytes and Packets packets, as sampled: each is
	// multiplied by SamplingRate (1 in N; 0 means 1) when counted.
	Bytes, Packets uint64
	SamplingRate   uint32
	// First and Last are the times (unix ns) of the first and last packet.
	First, Last int64
	// Direction is the exporter's, when it gives one: place.Egress says
	// that Src is local and Dst remote, place.Ingress the reverse. With
	// place.DirectionUnknown the local networks decide, as for packets.
	Direction place.Direction
	// Context separates flows that reuse addresses (VLAN, VRF,
	// observation domain), like capture.Packet.Context.
	Context uint32
}

// Record queues one record for its worker: the worker of the record's
// address pair, where the packets of the same flow go. Records whose
// addresses are missing or of two families are counted as invalid
// (borderwatch_records_invalid_total), not placed.
func (d *Dispatcher) Record(r *Record) {
	d.p.records.Add(1)
	rec := *r
	rec.Src, rec.Dst = rec.Src.Unmap(), rec.Dst.Unmap()
	if !rec.Src.IsValid() || !rec.Dst.IsValid() || rec.Src.Is4() != rec.Dst.Is4() {
		d.p.recordsInvalid.Add(1)
		return
	}
	if rec.Last < rec.First {
		rec.Last = rec.First
	}
	i := d.target
	if i < 0 {
		a, b := rec.Src.As16(), rec.Dst.As16()
		i = int(flow.PairHash(&a, &b, rec.Context) % uint64(len(d.p.workers)))
	}
	bt := d.cur[i]
	if bt != nil && len(bt.pkts) > 0 {
		// A worker handles a batch's records before its packets: keep
		// the order.
		d.send(i)
		bt = nil
	}
	if bt == nil {
		bt = d.newBatch(i)
	}
	if bt.recs == nil {
		bt.recs = make([]Record, 0, batchPackets)
	}
	bt.recs = append(bt.recs, rec)
	if len(bt.recs) == cap(bt.recs) {
		d.send(i)
	}
}

// HandleRecord counts one record into its flow, as Handle counts a packet.
// r's addresses are valid, unmapped and of one family (Dispatcher.Record
// checks).
func (w *Worker) HandleRecord(r *Record) {
	k, reverse := flow.MakeKey(r.Src.As16(), r.Dst.As16(), r.SrcPort, r.DstPort, r.Proto, r.Src.Is6(), r.Context)
	k.Input = uint8(w.input)
	h := k.Hash()
	e, created := w.table.Get(&k, h, r.First)
	e.Last = max(e.Last, r.Last)
	side := flow.AtoB
	if reverse {
		side = flow.BtoA
	}
	if created {
		w.shard.FlowsActive.Add(1)
		e.Initiator = uint8(side)
		srcLocal, dstLocal := w.policy.isLocal(r.Src), w.policy.isLocal(r.Dst)
		switch r.Direction {
		case place.Egress:
			srcLocal, dstLocal = true, false
		case place.Ingress:
			srcLocal, dstLocal = false, true
		}
		aLocal, bLocal := srcLocal, dstLocal
		if reverse {
			aLocal, bLocal = dstLocal, srcLocal
		}
		if aLocal {
			e.Flags |= flagLocalA
		}
		if bLocal {
			e.Flags |= flagLocalB
		}
		// A record carries no payload to learn a name from.
		e.Flags |= flagNameDone
		if aLocal && bLocal {
			e.Flags |= flagPlaced // internal: counted as is
		}
	}
	rate := uint64(max(r.SamplingRate, 1))
	w.add(e, side, r.Bytes*rate, r.Packets*rate)
	if e.Flags&flagPlaced == 0 && ready(e, r.Last) {
		w.flushEntry(e)
	}
	w.table.ExpireInput(uint8(w.input), r.Last, 2)
}
