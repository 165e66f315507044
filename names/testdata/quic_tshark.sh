#!/bin/sh
# Regenerates quic_tshark.tsv: the SNI of every QUIC (and gQUIC) client
# Initial in the shared QUIC captures, as tshark decodes it. Run from the
# shared pcaps directory: (cd ../../shared/pcaps && sh ../../main/names/testdata/quic_tshark.sh > ../../main/names/testdata/quic_tshark.tsv)
set -e
printf '# QUIC client Initials with an SNI, as decoded by tshark (Wireshark 4.x QUIC/gQUIC dissectors): capture, client, server, sni.\n# Regenerate with quic_tshark.sh.\n'
files="$(ls ndpi/pcap/*quic* ndpi/pcap/gquic.pcap) $(ls retina/traces/*.pcap*) illustrated-quic/captures/capture.pcap $(find zeek/Traces/quic -name '*.pcap*') $(ls ja4/pcap/*quic* ja4/pcap/latest.pcapng ja4/pcap/https3-301-get.pcap)"
for f in $files; do
	tshark -n -r "$f" -Y '(quic && tls.handshake.type==1 && tls.handshake.extensions_server_name) || gquic.tag.sni' \
		-T fields -E separator=/t -e ip.src -e ipv6.src -e udp.srcport -e ip.dst -e ipv6.dst -e udp.dstport \
		-e tls.handshake.extensions_server_name -e gquic.tag.sni 2>/dev/null |
	awk -F'\t' -v f="$f" '{s=$1; if(s=="") s="["$2"]"; d=$4; if(d=="") d="["$5"]"; n=$7; if(n=="") n=$8; split(n,a,","); print f"\t"s":"$3"\t"d":"$6"\t"a[1]}'
done | sort -u
