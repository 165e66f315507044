#!/bin/sh
# Regenerates dns_tshark.tsv: per successful DNS response with addresses,
# the question name and its sorted A/AAAA answers, as tshark decodes them.
# Run from the shared pcaps directory:
#   (cd ../../shared/pcaps && sh ../../main/names/testdata/dns_tshark.sh > ../../main/names/testdata/dns_tshark.tsv)
set -e
printf '# DNS responses (rcode 0) with A/AAAA answers, as decoded by tshark: capture, question name, sorted addresses.\n# Regenerate with dns_tshark.sh.\n'
for f in mobile/KBKlic1.pcapng ndpi/pcap/dns_ambiguous_names.pcap zeek/Traces/dns-https.pcap zeek/Traces/dns/tm1t.pcap zeek/Traces/dns/mdns.pcap ndpi/pcap/dns_long_domainname.pcap ndpi/pcap/dns-tunnel-iodine.pcap pktvisor/src/tests/fixtures/dns_ipv4_udp.pcap \
	pktvisor/src/tests/fixtures/dns_ipv6_udp.pcap pktvisor/src/tests/fixtures/dns_ipv4_tcp.pcap pktvisor/src/tests/fixtures/dns_ipv6_tcp.pcap; do
	tshark -n -r "$f" -Y 'dns.flags.response==1 && dns.flags.rcode==0 && dns.flags.opcode==0 && (dns.a || dns.aaaa)' \
		-T fields -E separator=/t -e dns.qry.name -e dns.a -e dns.aaaa 2>/dev/null |
	gawk -F'\t' -v f="$f" '{a=$2; if($3!="") a=(a==""?$3:a","$3); n=split(a,x,","); s=""; asort(x); for(i=1;i<=n;i++) s=s (i>1?",":"") x[i]; print f"\t"tolower($1)"\t"s}'
done
