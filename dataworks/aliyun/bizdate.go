package aliyun

import "github.com/manualdag/manualdag/dag"

// wireBizdateLayout is what CreateManualDag demands ("yyyy-MM-dd 00:00:00").
const wireBizdateLayout = "2006-01-02 15:04:05"

// wireBizdate turns a canonical bizdate into the service's form.
func wireBizdate(bizdate string) (string, error) {
	d, err := dag.ParseBizdate(bizdate)
	if err != nil {
		return "", err
	}
	return d + " 00:00:00", nil
}
