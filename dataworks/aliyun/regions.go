package aliyun

import (
	"maps"
	"slices"

	dwpub "github.com/aliyun/alibaba-cloud-sdk-go/services/dataworks-public"
)

// documentedRegions are regions that Alibaba's DataWorks endpoint pages
// (api-dataworks-public-2020-05-18-endpoint, …-2024-05-18-endpoint) list
// but the SDK's endpoint table lacked in v1.63.107. The SDK's table grows
// with each SDK release; this list covers the gap until it does.
var documentedRegions = []string{"cn-wulanchabu", "ap-northeast-2", "ap-southeast-7"}

// Regions are the region ids DataWorks is known to serve, sorted: the
// SDK's endpoint table and documentedRegions. A region opened since is not
// in it: Config.Validate then asks for an explicit Endpoint.
func Regions() []string {
	set := map[string]bool{}
	for r := range dwpub.GetEndpointMap() {
		set[r] = true
	}
	for _, r := range documentedRegions {
		set[r] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// KnownRegion says whether region is one of Regions.
func KnownRegion(region string) bool {
	if _, ok := dwpub.GetEndpointMap()[region]; ok {
		return true
	}
	return slices.Contains(documentedRegions, region)
}
