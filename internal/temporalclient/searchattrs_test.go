package temporalclient

import (
	"context"
	"strings"
	"testing"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc"
)

// fakeOperator records AddSearchAttributes; every other method is the
// embedded nil interface (a call would panic: none is expected).
type fakeOperator struct {
	operatorservice.OperatorServiceClient
	added []*operatorservice.AddSearchAttributesRequest
}

func (f *fakeOperator) AddSearchAttributes(_ context.Context, req *operatorservice.AddSearchAttributesRequest, _ ...grpc.CallOption) (*operatorservice.AddSearchAttributesResponse, error) {
	f.added = append(f.added, req)
	return &operatorservice.AddSearchAttributesResponse{}, nil
}

func TestRegister(t *testing.T) {
	wanted := []temporal.SearchAttributeKey{temporal.NewSearchAttributeKeyKeyword("DataWorksFlow"), temporal.NewSearchAttributeKeyInt64("DataWorksDagId")}
	t.Run("adds the missing ones only", func(t *testing.T) {
		s := SearchAttributes{namespace: "ns", wanted: wanted, have: map[string]enums.IndexedValueType{"DataWorksFlow": enums.INDEXED_VALUE_TYPE_KEYWORD}}
		f := &fakeOperator{}
		added, err := s.Register(t.Context(), f)
		if err != nil || len(added) != 1 || added[0].GetName() != "DataWorksDagId" {
			t.Fatalf("added %v, %v", added, err)
		}
		if len(f.added) != 1 || f.added[0].GetNamespace() != "ns" || len(f.added[0].GetSearchAttributes()) != 1 ||
			f.added[0].GetSearchAttributes()["DataWorksDagId"] != enums.INDEXED_VALUE_TYPE_INT {
			t.Errorf("request %v", f.added)
		}
	})
	t.Run("nothing to do", func(t *testing.T) {
		s := SearchAttributes{namespace: "ns", wanted: wanted, have: map[string]enums.IndexedValueType{
			"DataWorksFlow": enums.INDEXED_VALUE_TYPE_KEYWORD, "DataWorksDagId": enums.INDEXED_VALUE_TYPE_INT}}
		f := &fakeOperator{}
		if added, err := s.Register(t.Context(), f); err != nil || added != nil || f.added != nil {
			t.Errorf("added %v, %v, calls %v", added, err, f.added)
		}
	})
	t.Run("a type conflict adds nothing", func(t *testing.T) {
		s := SearchAttributes{namespace: "ns", wanted: wanted, have: map[string]enums.IndexedValueType{"DataWorksDagId": enums.INDEXED_VALUE_TYPE_KEYWORD}}
		f := &fakeOperator{}
		_, err := s.Register(t.Context(), f)
		if err == nil || !strings.Contains(err.Error(), "has search attribute DataWorksDagId as Keyword, manualdag needs Int: remove it") || f.added != nil {
			t.Errorf("error %v, calls %v", err, f.added)
		}
	})
}
