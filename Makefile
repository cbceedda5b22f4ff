# citusgen: `make test` runs every test; tests that need PostgreSQL start
# their own servers, tests that need Citus skip with a reason when it is absent.
GO ?= go

.PHONY: all build test golden bench fuzz vet fmt

all: build

build:
	$(GO) build -buildvcs=true -o bin/citusgen ./cmd/citusgen

# Prints each package as it finishes and, every 30 s, the packages still
# running; ends with the slowest packages and one line naming every skipped
# test and why (internal/testsummary).
# Then the matrix's second leg: the packages with real-Citus and compose
# tests again, on Citus 14.0 / PostgreSQL 17 (servers and compose nodes from
# the local citusdata/citus:14.0 image; they skip, naming why, without it).
CITUS14_IMAGE ?= citusdata/citus:14.0
CITUS_PACKAGES = ./citus ./live ./verify ./bootstrap ./reshape ./generator ./testrunner ./cmd/citusgen

test:
	$(GO) vet ./...
	$(GO) run ./internal/testsummary -count=1 -timeout 60m ./...
	CITUSGEN_CITUS_IMAGE=$(CITUS14_IMAGE) $(GO) run ./internal/testsummary -count=1 -timeout 60m $(CITUS_PACKAGES)

# Rewrite golden/ from the current output; review the diff before committing.
golden:
	$(GO) test ./specimport/ -run TestImportFixtures -update
	$(GO) test ./generator/ -run TestGolden -update

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fuzz:
	$(GO) test ./quote/ -run '^$$' -fuzz FuzzPyLiteral -fuzztime 30s
	$(GO) test ./quote/ -run '^$$' -fuzz FuzzYAMLScalar -fuzztime 30s
	$(GO) test ./quote/ -run '^$$' -fuzz FuzzComposeBlock -fuzztime 30s
	$(GO) test ./generator/ -run '^$$' -fuzz FuzzComposeLoads -fuzztime 60s
	$(GO) test ./generator/ -run '^$$' -fuzz 'FuzzSpec$$' -fuzztime 60s
	$(GO) test ./generator/ -run '^$$' -fuzz FuzzServiceNames -fuzztime 30s

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')
