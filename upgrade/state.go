package upgrade

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/citusgen/citusgen/internal/atomicfile"
	"github.com/citusgen/citusgen/pgupgrade"
)

// State is what a run has done, kept beside the compose file so that a
// run stopped anywhere (Ctrl-C, a killed node, a reboot) resumes with the
// next step, and rollback knows what to undo. It holds no secret.
type State struct {
	From Image `json:"from"`
	To   Image `json:"to"`
	Legs []Leg `json:"legs"`
	Link bool  `json:"link"`
	// Compose is the compose file as it was before the run: rollback
	// writes it back.
	Compose []byte      `json:"compose"`
	Nodes   []NodeState `json:"nodes"`
	// Done are the steps finished, by key (leg index and step, and node).
	Done     map[string]time.Time `json:"done"`
	Finished bool                 `json:"finished"`
}

// NodeState is a node's facts the steps need after the node has stopped.
type NodeState struct {
	Service string `json:"service"`
	Volume  string `json:"volume"`
	Network string `json:"network"`
	// Init are the old cluster's initdb settings, per leg.
	Init map[int]pgupgrade.InitSettings `json:"init,omitempty"`
}

// StatePath is where the state of an upgrade of the cluster in composeFile
// is kept.
func StatePath(composeFile string) string {
	return filepath.Join(filepath.Dir(composeFile), ".citusgen-upgrade-"+filepath.Base(composeFile)+".json")
}

func loadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %v; it records an upgrade in progress: restore it, or remove it if no upgrade runs", path, err)
	}
	if s.Done == nil {
		s.Done = map[string]time.Time{}
	}
	return &s, nil
}

func (s *State) save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'))
}
