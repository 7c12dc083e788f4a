package aliyun

import (
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"

	"github.com/manualdag/manualdag/dag"
)

// Defaults of Config. The timeouts are short on purpose: the SDK cannot be
// interrupted mid-call except through the client's own transport, and a
// caller (a Temporal activity) would rather retry than wait.
const (
	DefaultRegion         = "cn-shanghai"
	DefaultScheme         = "https"
	DefaultConnectTimeout = 5 * time.Second
	DefaultRequestTimeout = 10 * time.Second
	DefaultPoolSize       = 4
	maxPoolSize           = 64
)

// Config configures a Client. The zero value of every field means its
// default.
type Config struct {
	// Region is the Alibaba Cloud region of the DataWorks workspace, e.g.
	// cn-shanghai (default). It picks the endpoint and is sent as RegionId.
	Region string
	// Endpoint overrides the host[:port] the client talks to. Default:
	// dataworks.<region>.aliyuncs.com, or dataworks.aliyuncs.com for
	// cn-zhangjiakou, cn-huhehaote, cn-qingdao and the finance and gov regions.
	Endpoint string
	// Scheme is "https" (default) or "http". Plain HTTP is allowed only when
	// Endpoint is a loopback address (an emulator on 127.0.0.0/8, ::1 or
	// localhost): a signed request over plain HTTP on a network can be read
	// and replayed.
	Scheme string
	// APIVersion is APIVersion2018 (default), APIVersion2020 or
	// APIVersion2024. A request may override it.
	APIVersion string
	// ConnectTimeout bounds dialling and the TLS handshake (default 5s).
	ConnectTimeout time.Duration
	// RequestTimeout bounds one whole call, reply body included (default 10s).
	RequestTimeout time.Duration
	// PoolSize is how many SDK clients the Client keeps, hence how many calls
	// run at once; further callers wait for a free one (default 4, at most 64).
	PoolSize int
	// Credential signs the requests (an sdk/auth credential such as
	// credentials.NewStaticAKCredentialsProvider). Nil means the SDK's default
	// chain: ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET /
	// ALIBABA_CLOUD_SECURITY_TOKEN, OIDC/RRSA, the CLI profile, the ECS RAM
	// role, ALIBABA_CLOUD_CREDENTIALS_URI.
	Credential auth.Credential
	// MaxQPS caps the requests this Client starts: at most MaxQPS in any
	// one-second window (rounded down; below 1, one per 1/MaxQPS seconds).
	// 0 = no cap. Requests over it wait (or fail as not sent when their
	// context ends first).
	MaxQPS float64
}

// regionPattern is what the SDK accepts as a region id, lower case only:
// region ids are never upper case, and a typo should not reach DNS.
var regionPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// centralEndpointRegions use dataworks.aliyuncs.com rather than a regional
// host.
var centralEndpointRegions = map[string]bool{
	"cn-zhangjiakou": true,
	"cn-huhehaote":   true,
	"cn-qingdao":     true,
}

// EndpointForRegion is the public DataWorks endpoint of a region.
func EndpointForRegion(region string) string {
	if centralEndpointRegions[region] || strings.Contains(region, "-finance-") || strings.Contains(region, "-gov-") {
		return "dataworks.aliyuncs.com"
	}
	return "dataworks." + region + ".aliyuncs.com"
}

// withDefaults fills every zero field with its default. It does not validate.
func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.Endpoint == "" && regionPattern.MatchString(c.Region) {
		c.Endpoint = EndpointForRegion(c.Region)
	}
	if c.Scheme == "" {
		c.Scheme = DefaultScheme
	}
	c.Scheme = strings.ToLower(c.Scheme)
	if c.APIVersion == "" {
		c.APIVersion = dag.APIVersion2018
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	return c
}

// Validate reports every mistake in the configuration, one sentence each,
// naming the setting and how to fix it. Zero fields take their defaults and
// are valid.
func (c Config) Validate() error {
	explicitEndpoint := c.Endpoint != ""
	c = c.withDefaults()
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	regionOK := regionPattern.MatchString(c.Region)
	switch {
	case !regionOK:
		add("dataworks config: Region %q is not a region id: write it like cn-shanghai", c.Region)
	case !explicitEndpoint && !KnownRegion(c.Region):
		// A typo would otherwise fail in DNS on every poll. A region that
		// DataWorks opened after this list was made still works with its
		// endpoint given.
		add("dataworks config: Region %q is not a DataWorks region: use one of %s; for a region opened since, also set Endpoint (dataworks.%s.aliyuncs.com)",
			c.Region, strings.Join(Regions(), ", "), c.Region)
	}
	host, err := checkEndpoint(c.Endpoint)
	// An empty Endpoint after a bad Region is that one mistake, said once.
	if err != nil && (regionOK || c.Endpoint != "") {
		errs = append(errs, err)
	}
	switch c.Scheme {
	case "https":
	case "http":
		if err == nil && !isLoopback(host) {
			add("dataworks config: Scheme http is allowed only for a loopback Endpoint (127.0.0.1, ::1, localhost), not %q: use https", c.Endpoint)
		}
	default:
		add("dataworks config: Scheme %q is neither https nor http: leave it empty for https", c.Scheme)
	}
	if err := checkAPIVersion(c.APIVersion); err != nil {
		add("dataworks config: APIVersion %q is not supported: use %s (%s is the default)", c.APIVersion, dag.APIVersionChoices(), dag.APIVersion2018)
	}
	if c.ConnectTimeout < 0 {
		add("dataworks config: ConnectTimeout %v is negative: leave it zero for %v", c.ConnectTimeout, DefaultConnectTimeout)
	}
	if c.RequestTimeout < 0 {
		add("dataworks config: RequestTimeout %v is negative: leave it zero for %v", c.RequestTimeout, DefaultRequestTimeout)
	}
	if c.MaxQPS < 0 || math.IsNaN(c.MaxQPS) || math.IsInf(c.MaxQPS, 0) {
		add("dataworks config: MaxQPS %v must be a number ≥ 0 (requests per second; 0 = no cap)", c.MaxQPS)
	}
	if c.PoolSize < 0 || c.PoolSize > maxPoolSize {
		add("dataworks config: PoolSize %d is out of range: use 1 to %d, or zero for %d", c.PoolSize, maxPoolSize, DefaultPoolSize)
	}
	return errors.Join(errs...)
}

func checkAPIVersion(v string) error {
	if !dag.KnownAPIVersion(v) {
		return fmt.Errorf("API version %q is not supported: use %s", v, dag.APIVersionChoices())
	}
	return nil
}

// checkEndpoint accepts host or host:port and returns the host.
func checkEndpoint(ep string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("dataworks config: Endpoint %q %s: write host or host:port, e.g. dataworks.cn-shanghai.aliyuncs.com or 127.0.0.1:8080", ep, why)
	}
	switch {
	case ep == "":
		return "", bad("is empty")
	case strings.Contains(ep, "://"):
		return "", fmt.Errorf("dataworks config: Endpoint %q contains a scheme: write host[:port] only and set Scheme separately", ep)
	case strings.ContainsAny(ep, "/?#@ \t\r\n"):
		return "", bad("is not a host")
	}
	host := ep
	if h, port, err := net.SplitHostPort(ep); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", bad("has an invalid port")
		}
		host = h
	} else if strings.Count(ep, ":") == 1 {
		return "", bad("has an invalid port")
	} else if strings.Contains(ep, ":") && net.ParseIP(ep) == nil {
		return "", bad("is not a host")
	}
	if host == "" {
		return "", bad("has no host")
	}
	return host, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
