package dashboards

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// labelSet is a set of label names; nil means "not known".
type labelSet map[string]bool

func setOf(names ...string) labelSet {
	s := labelSet{}
	for _, n := range names {
		s[n] = true
	}
	return s
}

func (s labelSet) String() string {
	return strings.Join(slices.Sorted(maps.Keys(s)), ",")
}

// schema knows the label names of every metric and recording rule whose
// series have been seen. Metrics not in the map are unknown (no check).
type schema map[string]labelSet

// problem is one finding about an expression.
type problem string

// checkExpr parses expr and reports every label it selects, groups or
// matches by that the input does not have, and returns the label names of
// its result (nil if not known). names lists the metric names it selects.
func (sc schema) checkExpr(expr string) (out labelSet, names []string, problems []problem, err error) {
	e, err := parser.ParseExpr(expr)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("parse %q: %w", expr, err)
	}
	c := &exprChecker{sc: sc}
	out = c.labels(e)
	return out, c.names, c.problems, nil
}

type exprChecker struct {
	sc       schema
	names    []string
	problems []problem
}

func (c *exprChecker) need(have labelSet, what string, ls ...string) {
	if have == nil {
		return
	}
	for _, l := range ls {
		if !have[l] {
			c.problems = append(c.problems, problem(fmt.Sprintf("%s uses label %q, but its input has only {%s}", what, l, have)))
		}
	}
}

// labels returns the label names of the result of n (nil: unknown).
func (c *exprChecker) labels(n parser.Node) labelSet {
	switch n := n.(type) {
	case *parser.VectorSelector:
		c.names = append(c.names, n.Name)
		have := c.sc[n.Name]
		for _, m := range n.LabelMatchers {
			if m.Name != "__name__" {
				c.need(have, n.Name, m.Name)
			}
		}
		return have
	case *parser.MatrixSelector:
		return c.labels(n.VectorSelector)
	case *parser.SubqueryExpr:
		return c.labels(n.Expr)
	case *parser.ParenExpr:
		return c.labels(n.Expr)
	case *parser.StepInvariantExpr:
		return c.labels(n.Expr)
	case *parser.UnaryExpr:
		return c.labels(n.Expr)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return labelSet{}
	case *parser.Call:
		var first labelSet
		found := false
		for _, a := range n.Args {
			l := c.labels(a)
			if !found && (a.Type() == parser.ValueTypeVector || a.Type() == parser.ValueTypeMatrix) {
				first, found = l, true
			}
		}
		switch n.Func.Name {
		case "time", "vector", "scalar":
			return labelSet{}
		case "absent", "absent_over_time", "label_replace", "label_join":
			return nil
		}
		if !found {
			return labelSet{}
		}
		return first
	case *parser.AggregateExpr:
		in := c.labels(n.Expr)
		if n.Param != nil {
			c.labels(n.Param)
		}
		c.need(in, n.Op.String()+" by/without", n.Grouping...)
		switch n.Op {
		case parser.TOPK, parser.BOTTOMK, parser.LIMITK, parser.LIMIT_RATIO:
			return in
		}
		if n.Without {
			if in == nil {
				return nil
			}
			out := maps.Clone(in)
			for _, g := range n.Grouping {
				delete(out, g)
			}
			return out
		}
		return setOf(n.Grouping...)
	case *parser.BinaryExpr:
		l, r := c.labels(n.LHS), c.labels(n.RHS)
		lv := n.LHS.Type() == parser.ValueTypeVector
		rv := n.RHS.Type() == parser.ValueTypeVector
		switch {
		case !lv && !rv:
			return labelSet{}
		case !rv:
			return l
		case !lv:
			return r
		}
		vm := n.VectorMatching
		if vm != nil {
			what := "binary " + n.Op.String() + " on/ignoring"
			c.need(l, what, vm.MatchingLabels...)
			c.need(r, what, vm.MatchingLabels...)
		}
		switch {
		case n.Op == parser.LOR:
			if l == nil || r == nil {
				return nil
			}
			out := maps.Clone(l)
			maps.Copy(out, r)
			return out
		case n.Op == parser.LAND || n.Op == parser.LUNLESS:
			return l
		case n.Op.IsComparisonOperator() && !n.ReturnBool:
			return l
		case vm != nil && vm.Card == parser.CardManyToOne:
			c.need(r, "group_left", vm.Include...)
			return union(l, setOf(vm.Include...))
		case vm != nil && vm.Card == parser.CardOneToMany:
			c.need(l, "group_right", vm.Include...)
			return union(r, setOf(vm.Include...))
		case vm != nil && vm.On:
			return setOf(vm.MatchingLabels...)
		case vm != nil && l != nil:
			out := maps.Clone(l)
			for _, m := range vm.MatchingLabels {
				delete(out, m)
			}
			return out
		}
		return l
	}
	return nil
}

func union(a, b labelSet) labelSet {
	if a == nil {
		return nil
	}
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}
