package aliyun

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/manualdag/manualdag/dag"
)

func TestEndpointForRegion(t *testing.T) {
	tests := map[string]string{
		"cn-shanghai":           "dataworks.cn-shanghai.aliyuncs.com",
		"ap-southeast-1":        "dataworks.ap-southeast-1.aliyuncs.com",
		"cn-zhangjiakou":        "dataworks.aliyuncs.com",
		"cn-huhehaote":          "dataworks.aliyuncs.com",
		"cn-qingdao":            "dataworks.aliyuncs.com",
		"cn-shanghai-finance-1": "dataworks.aliyuncs.com",
		"cn-north-2-gov-1":      "dataworks.aliyuncs.com",
	}
	for region, want := range tests {
		if got := EndpointForRegion(region); got != want {
			t.Errorf("%s: %s, want %s", region, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	valid := []Config{
		{},
		{Region: "cn-beijing", APIVersion: dag.APIVersion2020},
		{Endpoint: "127.0.0.1:8080", Scheme: "http"},
		{Endpoint: "localhost:8080", Scheme: "HTTP"},
		{Endpoint: "[::1]:8080", Scheme: "http"},
		{Endpoint: "::1", Scheme: "http"},
		{Endpoint: "dataworks-vpc.cn-shanghai.aliyuncs.com"},
		{Region: "cn-wulanchabu"},
		{Region: "cn-shenzhen-finance-1"},
		// A region newer than the list, with its endpoint given.
		{Region: "xx-newregion-1", Endpoint: "dataworks.xx-newregion-1.aliyuncs.com"},
		{PoolSize: 64, ConnectTimeout: time.Second, RequestTimeout: time.Minute},
	}
	for _, c := range valid {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	invalid := []struct {
		cfg  Config
		want []string // every one must be named
	}{
		{Config{Region: "CN Shanghai"}, []string{"Region"}},
		{Config{Region: "cn-shangai"}, []string{`Region "cn-shangai" is not a DataWorks region: use one of`, "cn-shanghai", "also set Endpoint"}},
		{Config{Endpoint: "https://dataworks.cn-shanghai.aliyuncs.com"}, []string{"Endpoint", "scheme"}},
		{Config{Endpoint: "host/path"}, []string{"Endpoint"}},
		{Config{Endpoint: "host:0"}, []string{"Endpoint", "port"}},
		{Config{Endpoint: "host:http"}, []string{"Endpoint", "port"}},
		{Config{Scheme: "http"}, []string{"Scheme http", "loopback"}},
		{Config{Endpoint: "10.0.0.1:80", Scheme: "http"}, []string{"loopback"}},
		{Config{Scheme: "ftp"}, []string{"Scheme"}},
		{Config{APIVersion: "2019-01-01"}, []string{"APIVersion", dag.APIVersion2018, dag.APIVersion2020}},
		{Config{ConnectTimeout: -1}, []string{"ConnectTimeout"}},
		{Config{RequestTimeout: -1}, []string{"RequestTimeout"}},
		{Config{PoolSize: -1}, []string{"PoolSize"}},
		{Config{PoolSize: 1000}, []string{"PoolSize"}},
		{Config{Region: "x y", Scheme: "ftp", PoolSize: -2}, []string{"Region", "Scheme", "PoolSize"}},
	}
	for _, tt := range invalid {
		err := tt.cfg.Validate()
		if err == nil {
			t.Errorf("%+v: no error", tt.cfg)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %q does not name %q", tt.cfg, err, w)
			}
		}
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("New(%+v) accepted it", tt.cfg)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Config{Credential: testConfig("x").Credential})
	if err != nil {
		t.Fatal(err)
	}
	if c.APIVersion() != dag.APIVersion2018 || c.cfg.Endpoint != "dataworks.cn-shanghai.aliyuncs.com" ||
		c.cfg.Scheme != "https" || cap(c.pool) != DefaultPoolSize || c.cfg.RequestTimeout != DefaultRequestTimeout {
		t.Errorf("defaults: %+v", c.cfg)
	}
	if c.AccessKeyID() != "" {
		t.Errorf("AccessKeyID before any call = %q", c.AccessKeyID())
	}
	p := <-c.pool
	defer func() { c.pool <- p }()
	if p.sdk.GetConfig().AutoRetry {
		t.Error("AutoRetry must stay off: it would resend CreateManualDag")
	}
	if got := p.sdk.GetConfig().Scheme; got != "HTTPS" {
		t.Errorf("SDK scheme = %q", got)
	}
	c6, err := New(Config{Endpoint: "::1", Scheme: "http", Credential: testConfig("x").Credential})
	if err != nil {
		t.Fatal(err)
	}
	if c6.domain != "[::1]" {
		t.Errorf("IPv6 domain = %q", c6.domain)
	}
}

// A CreateManualDag resent by Go's HTTP/2 client after a stream reset would
// start a second DAG run; the transport must speak HTTP/1.1 only.
func TestTransportIsHTTP1Only(t *testing.T) {
	tr := newBaseTransport(Config{}.withDefaults())
	if tr.Protocols == nil || tr.Protocols.HTTP2() || tr.Protocols.UnencryptedHTTP2() || !tr.Protocols.HTTP1() {
		t.Fatalf("transport protocols = %v, want HTTP/1.1 only", tr.Protocols)
	}
	if tr.ForceAttemptHTTP2 {
		t.Fatal("ForceAttemptHTTP2 is on")
	}
}

// Every region of the list has an endpoint, and the list is sorted without
// duplicates.
func TestRegions(t *testing.T) {
	regions := Regions()
	if len(regions) < 20 || !slices.IsSorted(regions) || len(slices.Compact(slices.Clone(regions))) != len(regions) {
		t.Fatalf("Regions() = %q", regions)
	}
	for _, r := range regions {
		if !KnownRegion(r) || !regionPattern.MatchString(r) {
			t.Errorf("%s: not a known region id", r)
		}
	}
	if KnownRegion("cn-shangai") {
		t.Error("a typo is known")
	}
}
