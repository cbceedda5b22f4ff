# citusgen: `make test` runs every test; tests that need PostgreSQL start
# their own servers, tests that need Citus skip with a reason when it is absent.
GO ?= go

.PHONY: all build test quick golden bench fuzz vet fmt

all: build

build:
	$(GO) build -buildvcs=true -o bin/citusgen ./cmd/citusgen

# Prints each package as it finishes and, every 30 s, the packages still
# running; ends with the slowest packages and one line naming every skipped
# test and why (testsupport/testsummary).
#
# -parallel 4: the compose tests run side by side; most of their time is
# waiting on the engine and on healthchecks, not CPU.
#
# The matrix: three citus images stand for what users pull (built by
# ../shared/citus/image.sh; tagged, as the published tags are, with their
# PostgreSQL major): 14.0 on PostgreSQL 18, 14.0-pg17 and 13.2-pg15. The
# first run is every test, the real-Citus ones on this machine's Citus 13.2
# on PostgreSQL 15, the compose ones with the real engine: compose's own
# behaviour on the current image (14.0, PostgreSQL 18), the quick start and
# the golden default case on each image (CITUSGEN_COMPOSE_IMAGES). Then the
# tests that depend on the Citus release run again with their servers in
# containers of the other images (CITUSGEN_CITUS_IMAGE): the release
# surface, convergence and the Django test lifecycle, one run per image,
# one after the other: side by side on two cores, their servers starved
# each other (connections timed out, seen at load 40). The compose tests
# come first in the first run: they take longest, and go test starts
# packages in the order given.
COMPOSE_IMAGES ?= citusdata/citus:14.0,citusdata/citus:14.0-pg17,citusdata/citus:13.2-pg15
SERVER_IMAGES ?= citusdata/citus:14.0 citusdata/citus:14.0-pg17
RELEASE_TESTS = ^(TestSurfaceExists|TestConvergence|TestDevProfileSetupAndTeardownTwice|TestCIProfileReusedDatabaseTwice|TestDjangoRunnerAloneLeavesWorkerDatabases|TestStartprojectDistributedTable)$$
RELEASE_PACKAGES = ./citus ./bootstrap ./testrunner

test:
	$(GO) vet ./...
	CITUSGEN_COMPOSE_IMAGES=$(COMPOSE_IMAGES) $(GO) run ./testsupport/testsummary -count=1 -parallel 3 -timeout 75m ./composetest ./...
	$(GO) build -o bin/testsummary ./testsupport/testsummary
	status=0; for image in $(SERVER_IMAGES); do \
	  echo "== the release-dependent tests on $$image"; \
	  CITUSGEN_CITUS_IMAGE=$$image bin/testsummary -count=1 -timeout 30m -run '$(RELEASE_TESTS)' $(RELEASE_PACKAGES) || status=1; \
	done; exit $$status

# The edit loop: every test that needs neither Citus nor Docker (plain
# PostgreSQL servers included), in under a minute; the rest skip, saying so.
quick:
	$(GO) run ./testsupport/testsummary -short -count=1 ./...

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
