#!/usr/bin/env bash
# Live-capture throughput: replays a genpcap capture (rewritten into the
# documentation and benchmarking ranges) with tcpreplay --topspeed onto a
# veth pair between two network namespaces of its own, borderwatch
# capturing on the other end, and reports packets/s sent, frames the
# kernel delivered to borderwatch, frames it dropped (ring full) and
# packets borderwatch read, at 1 and 2 workers. Nothing leaves the two
# namespaces.
# Needs root, iproute2, tcpreplay (tcprewrite), curl and ../shared/bench/genpcap.
#   e2e/bench-live.sh [PACKETS] [EXTRA BORDERWATCH FLAGS...]      (default 300000)
set -euo pipefail
cd "$(dirname "$0")/.."
packets=${1:-300000}
shift || true
shared=${BORDERWATCH_SHARED:-$(cd .. && pwd)/shared}
tmp=$(mktemp -d)
a=bwbench-a # borderwatch
b=bwbench-b # tcpreplay
bwpid=
cleanup() {
  [ -n "$bwpid" ] && kill "$bwpid" 2>/dev/null || true
  ip netns del $a 2>/dev/null || true
  ip netns del $b 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

(cd "$shared/bench/genpcap" && go run . -o "$tmp/gen.pcap" -packets "$packets" -ranges ../server-prefixes.txt >/dev/null)
# clients 10/8 and fd00::/64 -> 198.18.0.0/15 and 2001:db8:1::/64;
# servers (everything else) -> 203.0.113.0/24 and 2001:db8:2::/64
tcprewrite --pnat=10.0.0.0/8:198.18.0.0/15,0.0.0.0/0:203.0.113.0/24 \
           --pnat=[fd00::]/64:[2001:db8:1::]/64,[::]/0:[2001:db8:2::]/64 \
           --enet-dmac=02:00:00:00:00:02 --enet-smac=02:00:00:00:00:01 \
           -i "$tmp/gen.pcap" -o "$tmp/rw.pcap"
CGO_ENABLED=0 go build -o "$tmp/borderwatch" ./cmd/borderwatch

ip netns add $a
ip netns add $b
ip -n $a link set lo up
ip -n $a link add bwb0 type veth peer name bwb1
ip -n $a link set bwb1 netns $b
ip -n $a link set bwb0 up
ip -n $b link set bwb1 up

printf '%-8s %12s %10s %12s %12s %12s\n' workers sent_pps sent delivered kernel_drops read
for workers in 1 2; do
  ip netns exec $a "$tmp/borderwatch" run --capture.interface bwb0 --workers $workers --web.listen-address 127.0.0.1:19199 \
      --capture.local-network 198.18.0.0/15 --capture.local-network 2001:db8:1::/64 --log.level warn "$@" &
  bwpid=$!
  for _ in $(seq 100); do ip netns exec $a curl -sf 127.0.0.1:19199/-/ready >/dev/null && break; sleep 0.1; done
  out=$(ip netns exec $b tcpreplay --topspeed -i bwb1 "$tmp/rw.pcap" 2>&1)
  sleep 2
  m=$(ip netns exec $a curl -s 127.0.0.1:19199/metrics)
  kill "$bwpid"; wait "$bwpid" 2>/dev/null || true
  bwpid=
  sent=$(echo "$out" | awk '/Successful packets:/ {print $3}')
  pps=$(echo "$out" | awk '/Rated:/ {for (i=1;i<=NF;i++) if ($i ~ /pps/) print $(i-1)}' | head -1)
  read=$(echo "$m" | awk '/^borderwatch_packets_read_total / {print $2}')
  delivered=$(echo "$m" | awk '/^borderwatch_capture_packets_total/ {s+=$2} END {print s+0}')
  drops=$(echo "$m" | awk '/^borderwatch_capture_kernel_drops_total/ {s+=$2} END {print s+0}')
  printf '%-8s %12s %10s %12s %12s %12s\n' $workers "$pps" "$sent" "$delivered" "$drops" "$read"
done
