package store

import "context"

// AliasReader is the part of PeopleQueries that resolves a person's addresses.
type AliasReader interface {
	PersonAliases(ctx context.Context, emails []string) ([]PersonAlias, error)
	ResolvePerson(ctx context.Context, address string) (string, error)
	ResolvePeople(ctx context.Context, addresses []string) (map[string]string, error)
}

// PersonAddresses returns every address of the person address belongs to: the primary address
// first, then its aliases (lower case). An address of a person without aliases gives itself alone.
// search.ExpandActors takes it (bound to a context) to widen actor: terms to people.
func PersonAddresses(ctx context.Context, q AliasReader, address string) ([]string, error) {
	primary, err := q.ResolvePerson(ctx, address)
	if err != nil {
		return nil, err
	}
	as, err := q.PersonAliases(ctx, []string{primary})
	if err != nil {
		return nil, err
	}
	out := []string{primary}
	for _, a := range as {
		out = append(out, a.Alias)
	}
	return out, nil
}
