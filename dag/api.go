package dag

// The two versions of the DataWorks API a run may use. The 2018-06-01 API
// can trigger and list a DAG run only; the 2020-05-18 API can also stop and
// rerun its nodes and read their logs, in a production or development
// project environment.
const (
	// APIVersion2018 is the default: the version our users' brief describes.
	APIVersion2018 = "2018-06-01"
	APIVersion2020 = "2020-05-18"
)

// Project environments of the 2020-05-18 API.
const (
	ProjectEnvProd = "PROD"
	ProjectEnvDev  = "DEV"
)
