package search

import (
	"fmt"
	"strings"
)

// MaxActorAddresses bounds the addresses one actor: term expands to (the person's primary address
// and its aliases; the store keeps at most 50 aliases a person), and MaxExpandedTerms the terms of
// a whole expanded query, so that the work a query causes stays bounded by what was typed.
const (
	MaxActorAddresses = 64
	MaxExpandedTerms  = 4 * MaxTerms
)

// ExpandActors returns q with every actor:ADDRESS term that names one address (no wildcard) widened
// to the person's every address, as addresses gives them (R8.3: the same person's Box login, Google
// address and Microsoft UPN): actor:bob@corp.com becomes (actor:bob@corp.com OR
// actor:robert@corp.example). Patterns (actor:*@corp.com) are left as written: they already name
// addresses, not people. addresses returns the addresses of the person an address belongs to,
// the address itself among them or not; nil or one address leaves the term as it is. Search and
// rules expand the same way, so a rule and a search of the same query agree (docs/SEARCH.md).
// Negation holds: NOT actor:bob@corp.com excludes every address of the person.
func ExpandActors(q Query, addresses func(address string) ([]string, error)) (Query, error) {
	if q.Root == nil {
		return q, nil
	}
	x := &expander{addresses: addresses}
	root, err := x.node(q.Root)
	if err != nil {
		return Query{}, err
	}
	if x.terms > MaxExpandedTerms {
		return Query{}, &Error{Msg: fmt.Sprintf("the query's actor terms widen to %d more addresses (the people's aliases), %d terms in all; the most is %d: name fewer people or use a pattern (actor:*@corp.com)", x.added, x.terms, MaxExpandedTerms)}
	}
	return Query{Root: root}, nil
}

type expander struct {
	addresses    func(string) ([]string, error)
	terms, added int
}

func (x *expander) node(n Node) (Node, error) {
	switch n := n.(type) {
	case *And:
		out := &And{Nodes: make([]Node, len(n.Nodes))}
		for i, c := range n.Nodes {
			e, err := x.node(c)
			if err != nil {
				return nil, err
			}
			out.Nodes[i] = e
		}
		return out, nil
	case *Or:
		out := &Or{}
		for _, c := range n.Nodes {
			e, err := x.node(c)
			if err != nil {
				return nil, err
			}
			if o, ok := e.(*Or); ok { // an Or never holds another Or directly
				out.Nodes = append(out.Nodes, o.Nodes...)
			} else {
				out.Nodes = append(out.Nodes, e)
			}
		}
		return out, nil
	case *Not:
		e, err := x.node(n.Node)
		if err != nil {
			return nil, err
		}
		return &Not{Node: e}, nil
	case *Term:
		x.terms++
		if n.Field != "actor" || n.Op != OpEq {
			return n, nil
		}
		addr, ok := literal(n.Value)
		if !ok {
			return n, nil
		}
		all, err := x.addresses(addr)
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{strings.ToLower(addr): true}
		or := &Or{Nodes: []Node{n}}
		for _, a := range all {
			if a == "" || seen[strings.ToLower(a)] || len(or.Nodes) >= MaxActorAddresses {
				continue
			}
			seen[strings.ToLower(a)] = true
			or.Nodes = append(or.Nodes, &Term{Field: "actor", Op: OpEq, Value: escapePattern(a)})
			x.terms++
			x.added++
		}
		if len(or.Nodes) == 1 {
			return n, nil
		}
		return or, nil
	}
	return n, nil
}

// escapePattern writes s as a text pattern matching exactly s.
func escapePattern(s string) string {
	var b strings.Builder
	for _, r := range s {
		escapeInto(&b, r)
	}
	return b.String()
}

// ActorIs returns the term actor:ADDRESS matching exactly that address (ASCII case folded), for
// queries built in code.
func ActorIs(address string) *Term {
	return &Term{Field: "actor", Op: OpEq, Value: escapePattern(address)}
}
