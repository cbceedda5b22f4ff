package upgrade

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Compose runs the user's compose CLI on the compose file the cluster runs
// from, in the file's folder, so the project name and the .env are the
// ones the user's own `docker compose` commands get.
type Compose struct {
	// Command is the compose CLI: docker compose (default) or docker-compose.
	Command []string
	File    string
}

func (c Compose) run(ctx context.Context, args ...string) (string, error) {
	command := c.Command
	if len(command) == 0 {
		command = []string{"docker", "compose"}
	}
	argv := append(append(append([]string{}, command[1:]...), "-f", filepath.Base(c.File)), args...)
	cmd := exec.CommandContext(ctx, command[0], argv...)
	cmd.Dir = filepath.Dir(c.File)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %v\n%s", strings.Join(command, " "), strings.Join(argv, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Container is a node's container as docker sees it.
type Container struct {
	ID      string
	Service string
	Image   string // as the compose file named it
	Running bool
	// Volume is the named volume at the data directory of the image's
	// layout; Network the first network the container is on.
	Volume, Network string
}

// Containers inspects the containers of services (stopped ones too).
func (c Compose) Containers(ctx context.Context, services []string) (map[string]Container, error) {
	out := map[string]Container{}
	for _, s := range services {
		ids, err := c.run(ctx, "ps", "-a", "-q", s)
		if err != nil {
			return nil, err
		}
		fields := strings.Fields(ids)
		if len(fields) == 0 {
			continue
		}
		ct, err := inspect(ctx, fields[0])
		if err != nil {
			return nil, err
		}
		ct.Service = s
		out[s] = ct
	}
	return out, nil
}

func inspect(ctx context.Context, id string) (Container, error) {
	b, err := exec.CommandContext(ctx, "docker", "inspect", id).Output()
	if err != nil {
		return Container{}, fmt.Errorf("docker inspect %s: %v", id, err)
	}
	var got []struct {
		ID     string
		Config struct{ Image string }
		State  struct{ Running bool }
		Mounts []struct {
			Type, Name, Destination string
		}
		NetworkSettings struct{ Networks map[string]json.RawMessage }
	}
	if err := json.Unmarshal(b, &got); err != nil || len(got) != 1 {
		return Container{}, fmt.Errorf("docker inspect %s: unexpected output", id)
	}
	g := got[0]
	ct := Container{ID: g.ID, Image: g.Config.Image, Running: g.State.Running}
	for _, m := range g.Mounts {
		if m.Type == "volume" && (m.Destination == "/var/lib/postgresql/data" || m.Destination == "/var/lib/postgresql") {
			ct.Volume = m.Name
		}
	}
	for n := range g.NetworkSettings.Networks {
		if ct.Network == "" || n < ct.Network {
			ct.Network = n
		}
	}
	return ct, nil
}

// ImagePresent says whether the engine has image, without pulling it.
func ImagePresent(ctx context.Context, image string) bool {
	return exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", image).Run() == nil
}

// composeCommand is the compose CLI to run: CITUSGEN_COMPOSE_COMMAND
// (such as docker-compose) or docker compose.
func composeCommand() []string {
	if c := strings.Fields(os.Getenv("CITUSGEN_COMPOSE_COMMAND")); len(c) > 0 {
		return c
	}
	return []string{"docker", "compose"}
}
