package aliyun

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	secret := "TopSecretValue+/="
	in := `POST&%2F&AccessKeyId%3DLTAI%26Signature%3DabcDEF%252B%26SignatureMethod%3DHMAC-SHA1 ` +
		`https://h/?Signature=xyz&SecurityToken=tok123&Action=A {"AccessKeySecret":"` + secret + `"} raw ` + secret +
		` enc ` + "TopSecretValue%2B%2F%3D"
	out := redact(in, secret)
	for _, leak := range []string{"abcDEF", "xyz", "tok123", secret, "TopSecretValue"} {
		if strings.Contains(out, leak) {
			t.Errorf("redact left %q in %s", leak, out)
		}
	}
	for _, keep := range []string{"AccessKeyId%3DLTAI", "SignatureMethod%3DHMAC-SHA1", "Action=A"} {
		if !strings.Contains(out, keep) {
			t.Errorf("redact removed %q: %s", keep, out)
		}
	}
}
