package pipeline

import (
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// inputUDPFrame is an Ethernet frame of one UDP datagram.
func inputUDPFrame(t *testing.T, src, dst string, sport, dport uint16, payload int) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload(make([]byte, payload))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// flowCounts returns flows_total and flows_active over every shard.
func flowCounts(p *Pipeline) (total uint64, active int64) {
	for _, sh := range p.Shards() {
		for i := range sh.Flows {
			total += sh.Flows[i].Load()
		}
		active += sh.FlowsActive.Load()
	}
	return total, active
}

// TestEndInput: the end of one input (capture files) ends its flows only;
// a flow of another input (live capture) with the very same 5-tuple is a
// separate flow, and goes on as one flow, counted once.
func TestEndInput(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workers = 2
	p, err := New(cfg, testPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	live := p.NewInputDispatcher(0, 0)
	files := p.NewInputDispatcher(1, -1)
	same := inputUDPFrame(t, "192.168.1.10", "203.0.113.10", 40000, 443, 100)
	const ts = 1_700_000_000_000_000_000
	live.Frame(same, layers.LinkTypeEthernet, ts)
	live.Send()
	files.Frame(same, layers.LinkTypeEthernet, ts)
	files.Frame(inputUDPFrame(t, "192.168.1.20", "198.51.100.10", 40001, 53, 40), layers.LinkTypeEthernet, ts)
	files.Frame(inputUDPFrame(t, "192.168.1.21", "198.51.100.11", 40002, 53, 40), layers.LinkTypeEthernet, ts)
	files.Send()
	p.EndInput(1)
	if _, active := flowCounts(p); active != 1 {
		t.Fatalf("after the end of the files: %d flows active; want 1 (the live flow)", active)
	}
	live.Frame(same, layers.LinkTypeEthernet, ts+1e9)
	live.Send()
	p.Finish()
	total, active := flowCounts(p)
	if total != 4 || active != 0 {
		t.Fatalf("at the end: %d flows, %d active; want 4 (the live flow counted once) and 0", total, active)
	}
	var pkts uint64
	for _, sh := range p.Shards() {
		for i := range sh.Packets {
			pkts += sh.Packets[i].Load()
		}
	}
	if pkts != 5 {
		t.Errorf("%d packets placed, want 5", pkts)
	}
}

// TestExpireKeepsFileClock: the wall-clock sweep of live capture does not
// end the flows of capture files (their packets carry the capture's old
// time); a file flow read across a sweep is one flow.
func TestExpireKeepsFileClock(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workers = 2
	p, err := New(cfg, testPolicy(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	files := p.NewInputDispatcher(1, -1)
	live := p.NewInputDispatcher(0, 0)
	frame := inputUDPFrame(t, "192.168.1.20", "198.51.100.10", 40001, 53, 40)
	const ts = 1_500_000_000_000_000_000 // 2017
	files.Frame(frame, layers.LinkTypeEthernet, ts)
	files.Send()
	// A live packet now sweeps its worker too (a few slots per packet).
	for i := range 64 {
		live.Frame(inputUDPFrame(t, "192.168.1.10", "203.0.113.10", uint16(41000+i), 443, 10), layers.LinkTypeEthernet, time.Now().UnixNano())
	}
	live.Send()
	p.Expire(time.Now())
	files.Frame(frame, layers.LinkTypeEthernet, ts+1e9)
	files.Send()
	p.EndInput(1)
	total, active := flowCounts(p)
	if total != 1 || active != 64 {
		t.Errorf("%d flows, %d active; want the file flow counted once (1) and the 64 live flows active", total, active)
	}
}
