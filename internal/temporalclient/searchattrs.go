package temporalclient

import (
	"context"
	"fmt"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// SearchAttributes is what a namespace has of the search attributes a
// workflow wants. A run may only start with registered ones (Temporal
// refuses the others); a namespace without them still runs every workflow,
// the Web UI just cannot filter on them.
type SearchAttributes struct {
	namespace string
	wanted    []temporal.SearchAttributeKey
	have      map[string]enums.IndexedValueType
}

// ListSearchAttributes asks the namespace which of wanted it has. On an
// error the result has none of them registered.
func ListSearchAttributes(ctx context.Context, c client.Client, namespace string, wanted []temporal.SearchAttributeKey) (SearchAttributes, error) {
	s := SearchAttributes{namespace: namespace, wanted: wanted}
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return s, fmt.Errorf("list the search attributes of namespace %q: %w", namespace, err)
	}
	s.have = resp.GetCustomAttributes()
	return s, nil
}

// Registered says whether the namespace has k, with k's type.
func (s SearchAttributes) Registered(k temporal.SearchAttributeKey) bool {
	t, ok := s.have[k.GetName()]
	return ok && t == k.GetValueType()
}

// Missing are the wanted attributes the namespace lacks or has with another
// type.
func (s SearchAttributes) Missing() []temporal.SearchAttributeKey {
	var out []temporal.SearchAttributeKey
	for _, k := range s.wanted {
		if !s.Registered(k) {
			out = append(out, k)
		}
	}
	return out
}

// CreateCommands are the CLI commands that register the missing attributes;
// one whose name exists with another type says so, as it cannot be set.
func (s SearchAttributes) CreateCommands() []string {
	var cmds []string
	for _, k := range s.Missing() {
		cmd := fmt.Sprintf("temporal operator search-attribute create --namespace %s --name %s --type %s",
			s.namespace, k.GetName(), TypeName(k.GetValueType()))
		if have, ok := s.have[k.GetName()]; ok {
			cmd += fmt.Sprintf(" (exists as %s: that attribute will not be set)", TypeName(have))
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}

// Conflicts are the wanted attributes the namespace has under another type:
// those cannot be registered, only removed first.
func (s SearchAttributes) Conflicts() []temporal.SearchAttributeKey {
	var out []temporal.SearchAttributeKey
	for _, k := range s.Missing() {
		if _, ok := s.have[k.GetName()]; ok {
			out = append(out, k)
		}
	}
	return out
}

// ConflictError says what to do about the first of Conflicts; nil without
// any.
func (s SearchAttributes) ConflictError() error {
	c := s.Conflicts()
	if len(c) == 0 {
		return nil
	}
	have, _ := s.Have(c[0].GetName())
	return fmt.Errorf("namespace %q has search attribute %s as %s, manualdag needs %s: remove it (temporal operator search-attribute remove --namespace %s --name %s) or use another namespace",
		s.namespace, c[0].GetName(), TypeName(have), TypeName(c[0].GetValueType()), s.namespace, c[0].GetName())
}

// Have is the type the namespace registered name under, if any.
func (s SearchAttributes) Have(name string) (enums.IndexedValueType, bool) {
	t, ok := s.have[name]
	return t, ok
}

// Register adds the wanted attributes the namespace lacks, in one call, and
// returns them; with none missing it calls nothing. An attribute the
// namespace has under another type is an error: Temporal cannot change a
// type, and adding the others first would hide the problem.
func (s SearchAttributes) Register(ctx context.Context, ops operatorservice.OperatorServiceClient) ([]temporal.SearchAttributeKey, error) {
	if err := s.ConflictError(); err != nil {
		return nil, err
	}
	missing := s.Missing()
	if len(missing) == 0 {
		return nil, nil
	}
	add := map[string]enums.IndexedValueType{}
	for _, k := range missing {
		add[k.GetName()] = k.GetValueType()
	}
	if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: s.namespace, SearchAttributes: add}); err != nil {
		return nil, fmt.Errorf("register search attributes in namespace %q: %w (on Temporal Cloud add them with tcld or in the Cloud UI)", s.namespace, err)
	}
	return missing, nil
}

// TypeName is the CLI's name of a search attribute type.
func TypeName(t enums.IndexedValueType) string {
	switch t {
	case enums.INDEXED_VALUE_TYPE_KEYWORD:
		return "Keyword"
	case enums.INDEXED_VALUE_TYPE_INT:
		return "Int"
	case enums.INDEXED_VALUE_TYPE_TEXT:
		return "Text"
	case enums.INDEXED_VALUE_TYPE_DOUBLE:
		return "Double"
	case enums.INDEXED_VALUE_TYPE_BOOL:
		return "Bool"
	case enums.INDEXED_VALUE_TYPE_DATETIME:
		return "Datetime"
	case enums.INDEXED_VALUE_TYPE_KEYWORD_LIST:
		return "KeywordList"
	}
	return t.String()
}
