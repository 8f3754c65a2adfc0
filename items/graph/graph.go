package graph

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/peace-go/peace/items"
)

// Version is the format version of the graph as JSON.
const Version = 1

// Graph is a flow as layers of nodes. Its JSON is the contract of
// `peace graph --format json` and of the server's graph.
type Graph struct {
	Version int    `json:"version"`
	Flow    string `json:"flow"`
	// Profile is set when the graph carries recorded statuses.
	Profile string `json:"profile,omitempty"`
	Nodes   []Node `json:"nodes"` // in the flow's stable order
	Edges   []Edge `json:"edges"` // by dependent, then dependency, in flow order
	// Layers lists node IDs by layer; layer 0 holds the items that
	// depend on nothing.
	Layers [][]string `json:"layers"`
}

// Node is one item.
type Node struct {
	ID        string   `json:"id"`
	Type      string   `json:"type"`
	Layer     int      `json:"layer"`
	DependsOn []string `json:"depends_on"`
	// Status and Summary are set with recorded statuses (see WithStatus).
	Status  Status `json:"status,omitempty"`
	Summary string `json:"summary,omitempty"`
}

// Edge says that To depends on From: From comes first in ensure.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Status is what is recorded of an item.
type Status string

const (
	// StatusRecorded: its state is recorded.
	StatusRecorded Status = "recorded"
	// StatusNone: nothing is recorded of it yet.
	StatusNone Status = "none"
	// StatusUnknown: a run began applying it and never ended; the next
	// run discovers it again.
	StatusUnknown Status = "unknown"
	// StatusInProgress: a live run is applying it now.
	StatusInProgress Status = "in_progress"
)

// Recorded is what is recorded of one item, for WithStatus.
type Recorded struct {
	Status  Status
	Summary string // the state on one line
}

// Build lays out flow: each item in the layer one past its deepest
// dependency, layers and nodes in the flow's stable order (dependencies
// first, declaration order otherwise), so the same flow always gives the
// same graph.
func Build(flow *items.Flow) *Graph {
	g := &Graph{Version: Version, Flow: string(flow.ID), Nodes: []Node{}, Edges: []Edge{}, Layers: [][]string{}}
	layer := map[items.ID]int{}
	for _, it := range flow.Items() {
		id := it.ID()
		l := 0
		ds := slices.Clone(flow.Deps(id))
		// Dependencies in the flow's order, not as declared: stable
		// whatever order the file lists them in.
		slices.SortFunc(ds, func(a, b items.ID) int { return flow.Index(a) - flow.Index(b) })
		deps := make([]string, 0, len(ds))
		for _, d := range ds {
			l = max(l, layer[d]+1)
			deps = append(deps, string(d))
		}
		layer[id] = l
		g.Nodes = append(g.Nodes, Node{ID: string(id), Type: it.Type(), Layer: l, DependsOn: deps})
		for len(g.Layers) <= l {
			g.Layers = append(g.Layers, []string{})
		}
		g.Layers[l] = append(g.Layers[l], string(id))
		for _, d := range deps {
			g.Edges = append(g.Edges, Edge{From: d, To: string(id)})
		}
	}
	return g
}

// WithStatus sets each node's recorded status for profile; an item rec
// does not name has StatusNone.
func (g *Graph) WithStatus(profile string, rec map[string]Recorded) *Graph {
	g.Profile = profile
	for i := range g.Nodes {
		r, ok := rec[g.Nodes[i].ID]
		if !ok || r.Status == "" {
			r = Recorded{Status: StatusNone}
		}
		g.Nodes[i].Status, g.Nodes[i].Summary = r.Status, r.Summary
	}
	return g
}

// WriteJSON writes g as indented JSON.
func (g *Graph) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(g)
}

// WriteDOT writes g for Graphviz: left to right, one rank per layer,
// edges from each dependency to its dependent.
func (g *Graph) WriteDOT(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotQuote(g.Flow))
	b.WriteString("  rankdir=LR;\n")
	b.WriteString("  node [shape=box, style=rounded, fontname=\"sans-serif\"];\n")
	for _, n := range g.Nodes {
		fmt.Fprintf(&b, "  %s [label=%s];\n", dotQuote(n.ID), dotQuote(strings.Join(g.label(n), "\n")))
	}
	for i, layer := range g.Layers {
		if len(layer) < 2 {
			continue
		}
		quoted := make([]string, len(layer))
		for j, id := range layer {
			quoted[j] = dotQuote(id)
		}
		fmt.Fprintf(&b, "  { rank=same; %s; } // layer %d\n", strings.Join(quoted, "; "), i)
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "  %s -> %s;\n", dotQuote(e.From), dotQuote(e.To))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMermaid writes g as a Mermaid flowchart, for a Markdown block.
func (g *Graph) WriteMermaid(w io.Writer) error {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for _, n := range g.Nodes {
		fmt.Fprintf(&b, "  %s[\"%s\"]\n", mermaidID(n.ID), mermaidText(strings.Join(g.label(n), "<br/>")))
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&b, "  %s --> %s\n", mermaidID(e.From), mermaidID(e.To))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// label is a node's lines: its ID, its type, and with statuses what is
// recorded.
func (g *Graph) label(n Node) []string {
	lines := []string{n.ID, n.Type}
	if n.Status != "" {
		s := string(n.Status)
		if n.Summary != "" {
			s += ": " + n.Summary
		}
		lines = append(lines, s)
	}
	return lines
}

// dotQuote quotes s as a DOT string.
func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// mermaidText escapes what a quoted Mermaid label cannot hold.
func mermaidText(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "<br/>", "<br/>", "<", "#lt;", ">", "#gt;")
	return r.Replace(s)
}

// mermaidReserved are words Mermaid reads as keywords, not node IDs.
var mermaidReserved = map[string]bool{"end": true, "graph": true, "subgraph": true, "flowchart": true,
	"style": true, "class": true, "classdef": true, "click": true, "linkstyle": true, "direction": true, "default": true}

// mermaidID is an item ID as a Mermaid node ID; item IDs are
// [a-z][a-z0-9_]*, so only keywords need a change.
func mermaidID(id string) string {
	if mermaidReserved[id] {
		return id + "_"
	}
	return id
}
