package emulator

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercentEncode(t *testing.T) {
	assert.Equal(t, "a%20b%2A~%2F%3D%26%2B", percentEncode("a b*~/=&+"))
}

func TestSignatureAcceptsTheSDK(t *testing.T) {
	h := newHarness(t, nil)
	body, err := h.call2018(h.client, "SearchManualDagNodeInstance", map[string]string{"ProjectName": "p1", "DagId": "1"})
	require.NoError(t, err)
	assert.Contains(t, body, CodeInvalidDagID)
}

func TestSignatureRejections(t *testing.T) {
	h := newHarness(t, nil)
	query := map[string]string{"ProjectName": "p1", "DagId": "1"}
	tests := []struct {
		name, id, secret string
		status           int
		code             string
	}{
		{"wrong secret", testKeyID, "not-the-secret", http.StatusBadRequest, "SignatureDoesNotMatch"},
		{"unknown key", "nobody", testSecret, http.StatusNotFound, "InvalidAccessKeyId.NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.call2018(h.sdkClient(tt.id, tt.secret), "SearchManualDagNodeInstance", query)
			se := serverError(t, err)
			assert.Equal(t, tt.status, se.HttpStatus())
			assert.Equal(t, tt.code, se.ErrorCode())
			assert.NotEmpty(t, se.RequestId())
		})
	}
	assert.Equal(t, 2, h.emu.Stats().Calls["SearchManualDagNodeInstance"].Total)
}

func TestSignatureRawRequests(t *testing.T) {
	h := newHarness(t, nil)
	business := map[string]string{"ProjectName": "p1", "DagId": "1"}
	now := time.Now()

	t.Run("stale timestamp", func(t *testing.T) {
		status, body := h.postRaw(rawParams("SearchManualDagNodeInstance", version2018, business, now.Add(-20*time.Minute), "n-stale"))
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "InvalidTimeStamp.Expired", body["Code"])
	})
	t.Run("future timestamp", func(t *testing.T) {
		status, body := h.postRaw(rawParams("SearchManualDagNodeInstance", version2018, business, now.Add(20*time.Minute), "n-future"))
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "InvalidTimeStamp.Expired", body["Code"])
	})
	t.Run("reused nonce", func(t *testing.T) {
		p := rawParams("SearchManualDagNodeInstance", version2018, business, now, "n-replay")
		status, body := h.postRaw(p)
		require.Equal(t, http.StatusOK, status, body)
		status, body = h.postRaw(p)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "SignatureNonceUsed", body["Code"])
	})
	t.Run("tampered parameter", func(t *testing.T) {
		p := rawParams("SearchManualDagNodeInstance", version2018, business, now, "n-tamper")
		p["DagId"] = "2"
		status, body := h.postRaw(p)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "SignatureDoesNotMatch", body["Code"])
	})
	for _, missing := range []string{"Signature", "AccessKeyId", "SignatureNonce", "Timestamp"} {
		t.Run("missing "+missing, func(t *testing.T) {
			p := rawParams("SearchManualDagNodeInstance", version2018, business, now, "n-missing-"+missing)
			delete(p, missing)
			status, body := h.postRaw(p)
			assert.Equal(t, http.StatusBadRequest, status)
			want := CodeMissingParameter
			if missing == "Signature" || missing == "AccessKeyId" {
				want = CodeIncompleteSignature
			}
			assert.Equal(t, want, body["Code"])
		})
	}
	t.Run("error body shape", func(t *testing.T) {
		p := rawParams("SearchManualDagNodeInstance", version2018, business, now, "n-shape")
		p["AccessKeyId"] = "nobody"
		status, body := h.postRaw(p)
		assert.Equal(t, http.StatusNotFound, status)
		for _, k := range []string{"RequestId", "HostId", "Code", "Message", "Recommend"} {
			assert.Contains(t, body, k)
		}
		assert.IsType(t, "", body["Code"])
	})
}

func TestNonceStoreIsBounded(t *testing.T) {
	v := newVerifier(map[string]Key{testKeyID: {Secret: testSecret}}, 15*time.Minute)
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	v.now = func() time.Time { return now }
	for i := range 100 {
		require.True(t, v.useNonce(fmt.Sprint(i), now))
	}
	require.False(t, v.useNonce("7", now))
	assert.Equal(t, 100, v.nonceCount())
	now = now.Add(31 * time.Minute)
	require.True(t, v.useNonce("new", now))
	assert.Equal(t, 1, v.nonceCount(), "nonces older than twice the skew are forgotten")
}
