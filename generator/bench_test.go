package generator_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/citusgen/citusgen/generator"
	"github.com/citusgen/citusgen/testsupport/dockertest"
	"github.com/citusgen/citusgen/topology"
)

func workersSpec(b *testing.B, n int) *topology.Topology {
	b.Helper()
	spec := fmt.Sprintf("password: commcarehq\ncoordinator: {service: citus_master, alias: icds-ucr, port: 5600}\nworkers: {count: %d, service_prefix: citus_worker, alias_prefix: citus-ucr-worker, first_port: 5601}\n", n)
	top, err := topology.Parse("bench.yaml", []byte(spec))
	if err != nil {
		b.Fatal(err)
	}
	return top
}

// BenchmarkRender renders all three artifacts (compose, settings, SQL).
// Targets: the default under 1 ms; cost linear in the number of workers.
func BenchmarkRender(b *testing.B) {
	cases := []struct {
		name string
		top  *topology.Topology
	}{{"default", topology.Default()}}
	for _, n := range []int{10, 100, 1000} {
		cases = append(cases, struct {
			name string
			top  *topology.Topology
		}{fmt.Sprintf("workers=%d", n), workersSpec(b, n)})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, render := range []func(*topology.Topology) ([]byte, error){
					func(t *topology.Topology) ([]byte, error) { return generator.ComposeFor(t, generator.ComposeFile) },
					func(t *topology.Topology) ([]byte, error) { return generator.SettingsFor(t, generator.SettingsFile) },
					func(t *topology.Topology) ([]byte, error) { return generator.SQLAt(t, generator.DjangoAddress(t)) },
				} {
					if _, err := render(c.top); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkParseDefault decodes and validates the embedded spec.
func BenchmarkParseDefault(b *testing.B) {
	spec := topology.DefaultSpec()
	for b.Loop() {
		if _, err := topology.Parse("default.yaml", spec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkComposeValidate is the compose-go load the CLI runs before it
// emits a document (not part of the render target).
func BenchmarkComposeValidate(b *testing.B) {
	doc, _ := generator.ComposeFor(topology.Default(), generator.ComposeFile)
	for b.Loop() {
		if _, err := dockertest.Load(context.Background(), "hq-compose.yml", doc, nil); err != nil {
			b.Fatal(err)
		}
	}
}
