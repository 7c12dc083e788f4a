package deployments

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// ---------------------------------------------------------------- KEDA

// KEDA publishes no Go module small enough to import here, so its
// keda.sh/v1alpha1 types are transcribed from kedacore/keda
// (apis/keda/v1alpha1: scaledobject_types.go, scaletriggers_types.go,
// triggerauthentication_types.go): every field of the spec, so that strict
// decoding refuses a misspelt one as the CRD's structural schema would.
// Fields of TriggerAuthentication that these manifests do not use are kept
// as raw JSON.

type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              scaledObjectSpec `json:"spec"`
}

type scaledObjectSpec struct {
	ScaleTargetRef *struct {
		Name                   string `json:"name"`
		APIVersion             string `json:"apiVersion,omitempty"`
		Kind                   string `json:"kind,omitempty"`
		EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
	} `json:"scaleTargetRef"`
	PollingInterval       *int32 `json:"pollingInterval,omitempty"`
	InitialCooldownPeriod *int32 `json:"initialCooldownPeriod,omitempty"`
	CooldownPeriod        *int32 `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount      *int32 `json:"idleReplicaCount,omitempty"`
	MinReplicaCount       *int32 `json:"minReplicaCount,omitempty"`
	MaxReplicaCount       *int32 `json:"maxReplicaCount,omitempty"`
	Advanced              *struct {
		HorizontalPodAutoscalerConfig *struct {
			Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
			Name     string                                         `json:"name,omitempty"`
		} `json:"horizontalPodAutoscalerConfig,omitempty"`
		RestoreToOriginalReplicaCount bool `json:"restoreToOriginalReplicaCount,omitempty"`
		ScalingModifiers              struct {
			Formula          string `json:"formula,omitempty"`
			Target           string `json:"target,omitempty"`
			ActivationTarget string `json:"activationTarget,omitempty"`
			MetricType       string `json:"metricType,omitempty"`
		} `json:"scalingModifiers,omitempty"`
	} `json:"advanced,omitempty"`
	Triggers []scaleTrigger `json:"triggers"`
	Fallback *struct {
		FailureThreshold int32  `json:"failureThreshold"`
		Replicas         int32  `json:"replicas"`
		Behavior         string `json:"behavior,omitempty"`
	} `json:"fallback,omitempty"`
}

type scaleTrigger struct {
	Type              string            `json:"type"`
	Name              string            `json:"name,omitempty"`
	UseCachedMetrics  bool              `json:"useCachedMetrics,omitempty"`
	Metadata          map[string]string `json:"metadata"`
	AuthenticationRef *struct {
		Name string `json:"name"`
		Kind string `json:"kind,omitempty"`
	} `json:"authenticationRef,omitempty"`
	MetricType string `json:"metricType,omitempty"`
}

type triggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef,omitempty"`
		PodIdentity              any `json:"podIdentity,omitempty"`
		Env                      any `json:"env,omitempty"`
		ConfigMapTargetRef       any `json:"configMapTargetRef,omitempty"`
		HashiCorpVault           any `json:"hashiCorpVault,omitempty"`
		AzureKeyVault            any `json:"azureKeyVault,omitempty"`
		AwsSecretManager         any `json:"awsSecretManager,omitempty"`
		GCPSecretManager         any `json:"gcpSecretManager,omitempty"`
		BoundServiceAccountToken any `json:"boundServiceAccountToken,omitempty"`
		FilePath                 any `json:"filePath,omitempty"`
	} `json:"spec"`
}

// The temporal scaler's parameters (kedacore/keda pkg/scalers/temporal_scaler.go):
// trigger metadata, the *FromEnv forms of those it resolves from the
// environment, and the authentication parameters.
var (
	temporalScalerMetadata = []string{"endpoint", "endpointFromEnv", "namespace", "namespaceFromEnv", "taskQueue", "taskQueueFromEnv",
		"activationTargetQueueSize", "targetQueueSize", "queueTypes", "buildId", "workerDeploymentName", "workerDeploymentBuildId",
		"selectAllActive", "selectUnversioned", "minConnectTimeout", "unsafeSsl", "tlsServerName", "apiKeyFromEnv",
		"includeRunningWorkflowCount", "workflowTaskQueueForCount", "enableTLS"}
	temporalScalerAuth = []string{"apiKey", "ca", "cert", "key", "keyPassword"}
)

// ---------------------------------------------------------------- components

// componentFile is a kustomize Component.
type componentFile struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources,omitempty"`
	Patches    []struct {
		Path   string `json:"path"`
		Target struct {
			Group   string `json:"group,omitempty"`
			Version string `json:"version,omitempty"`
			Kind    string `json:"kind"`
			Name    string `json:"name"`
		} `json:"target"`
	} `json:"patches,omitempty"`
}

// jsonPatchOp is one operation of an RFC 6902 patch.
type jsonPatchOp struct {
	Op    string         `json:"op"`
	Path  string         `json:"path"`
	Value map[string]any `json:"value,omitempty"`
}

// components holds every component under k8s/components, decoded strictly.
type components struct {
	names []string
	// Resources.
	scaledObject *scaledObject
	triggerAuth  *triggerAuthentication
	podMonitor   *monitoringv1.PodMonitor
	job          *batchv1.Job
	// The temporal-mtls patches, by target kind, and keda-temporal-mtls's.
	mtlsDeployment *appsv1.Deployment
	mtlsJob        *batchv1.Job
	scaledPatch    []jsonPatchOp
	// targets are the patches' targets: "Kind/name" by component.
	targets map[string][]string
}

func decodeFile(t *testing.T, file string, obj any) {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, decodeStrict(b, obj), "%s", file)
}

func loadComponents(t *testing.T) *components {
	t.Helper()
	cs := &components{targets: map[string][]string{}}
	dirs, err := os.ReadDir(filepath.Join("k8s", "components"))
	require.NoError(t, err)
	for _, d := range dirs {
		require.True(t, d.IsDir(), "k8s/components/%s: only component directories belong there", d.Name())
		cs.names = append(cs.names, d.Name())
		cs.loadComponent(t, filepath.Join("k8s", "components", d.Name()))
	}
	return cs
}

func (cs *components) loadComponent(t *testing.T, dir string) {
	t.Helper()
	var k componentFile
	decodeFile(t, filepath.Join(dir, "kustomization.yaml"), &k)
	assert.Equal(t, "kustomize.config.k8s.io/v1alpha1 Component", k.APIVersion+" "+k.Kind, "%s is a Component", dir)
	used := map[string]bool{"kustomization.yaml": true}
	for _, r := range k.Resources {
		used[r] = true
		cs.loadResource(t, filepath.Join(dir, r))
	}
	for _, p := range k.Patches {
		used[p.Path] = true
		// A target that names kind and name is skipped when absent; a patch
		// without one fails the build when its object is absent.
		require.NotEmpty(t, p.Target.Kind, "%s: patch %s names its target", dir, p.Path)
		require.NotEmpty(t, p.Target.Name, "%s: patch %s names its target", dir, p.Path)
		cs.targets[filepath.Base(dir)] = append(cs.targets[filepath.Base(dir)], p.Target.Kind+"/"+p.Target.Name)
		cs.loadPatch(t, filepath.Join(dir, p.Path), p.Target.Kind, p.Target.Name)
	}
	files, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, f := range files {
		assert.True(t, used[f.Name()], "%s/%s is not used by its kustomization.yaml", dir, f.Name())
	}
}

func (cs *components) loadResource(t *testing.T, file string) {
	t.Helper()
	var tm metav1.TypeMeta
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &tm), file)
	switch tm.APIVersion + " " + tm.Kind {
	case "keda.sh/v1alpha1 ScaledObject":
		cs.scaledObject = &scaledObject{}
		decodeFile(t, file, cs.scaledObject)
	case "keda.sh/v1alpha1 TriggerAuthentication":
		cs.triggerAuth = &triggerAuthentication{}
		decodeFile(t, file, cs.triggerAuth)
	case "monitoring.coreos.com/v1 PodMonitor":
		cs.podMonitor = &monitoringv1.PodMonitor{}
		decodeFile(t, file, cs.podMonitor)
	case "batch/v1 Job":
		cs.job = &batchv1.Job{}
		decodeFile(t, file, cs.job)
	default:
		t.Errorf("%s: %s %s is not a kind these tests know: add it to loadResource", file, tm.APIVersion, tm.Kind)
	}
}

func (cs *components) loadPatch(t *testing.T, file, kind, name string) {
	t.Helper()
	var obj any
	switch kind {
	case "Deployment":
		cs.mtlsDeployment = &appsv1.Deployment{}
		obj = cs.mtlsDeployment
	case "Job":
		cs.mtlsJob = &batchv1.Job{}
		obj = cs.mtlsJob
	case "ScaledObject":
		obj = &cs.scaledPatch
	default:
		t.Fatalf("%s: a patch of a %s: add it to loadPatch", file, kind)
	}
	decodeFile(t, file, obj)
	if m, ok := obj.(metav1.Object); ok {
		assert.Equal(t, name, m.GetName(), "%s: the patch's name is its target's", file)
	}
}

func TestKubernetesComponents(t *testing.T) {
	m := loadManifests(t)
	cs := loadComponents(t)
	assert.ElementsMatch(t, []string{"keda", "keda-temporal-mtls", "podmonitor", "search-attributes", "temporal-mtls"}, cs.names)
	kust, err := os.ReadFile(filepath.Join("k8s", "kustomization.yaml"))
	require.NoError(t, err)
	for _, name := range cs.names {
		assert.Contains(t, string(kust), "components/"+name+" ", "kustomization.yaml's comment lists components/%s", name)
	}
	env := workerEnv(t)
	pod := m.deployment.Spec.Template
	worker := pod.Spec.Containers[0]

	t.Run("keda", func(t *testing.T) { checkScaledObject(t, m, cs.scaledObject, env) })
	t.Run("podmonitor", func(t *testing.T) {
		pm := cs.podMonitor
		require.NotNil(t, pm)
		for k, v := range pm.Spec.Selector.MatchLabels {
			assert.Equal(t, v, pod.Labels[k], "the PodMonitor selects the worker's pods (%s)", k)
		}
		require.Len(t, pm.Spec.PodMetricsEndpoints, 1)
		ep := pm.Spec.PodMetricsEndpoints[0]
		require.NotNil(t, ep.Port)
		assert.True(t, slices.ContainsFunc(worker.Ports, func(p corev1.ContainerPort) bool {
			return p.Name == *ep.Port && int(p.ContainerPort) == metricsPort(t, env)
		}), "the PodMonitor scrapes the container's metrics port")
		assert.Equal(t, "/metrics", ep.Path)
	})
	t.Run("search-attributes", func(t *testing.T) { checkSearchAttributesJob(t, m, cs.job) })
	t.Run("temporal-mtls", func(t *testing.T) {
		assert.ElementsMatch(t, []string{"Deployment/" + m.deployment.Name, "Job/" + cs.job.Name}, cs.targets["temporal-mtls"])
		checkMTLSPatch(t, "the Deployment", cs.mtlsDeployment.Spec.Template.Spec, pod.Spec)
		checkMTLSPatch(t, "the Job", cs.mtlsJob.Spec.Template.Spec, cs.job.Spec.Template.Spec)
	})
	t.Run("keda-temporal-mtls", func(t *testing.T) { checkKEDAMTLS(t, cs) })
}

func checkScaledObject(t *testing.T, m *manifests, so *scaledObject, env map[string]string) {
	require.NotNil(t, so)
	ref := so.Spec.ScaleTargetRef
	require.NotNil(t, ref)
	assert.Equal(t, "apps/v1 Deployment "+m.deployment.Name, ref.APIVersion+" "+ref.Kind+" "+ref.Name, "it scales the worker")
	minR, maxR := *so.Spec.MinReplicaCount, *so.Spec.MaxReplicaCount
	assert.GreaterOrEqual(t, minR, *m.deployment.Spec.Replicas, "never below the Deployment's replicas")
	assert.Greater(t, int(minR), m.pdb.Spec.MinAvailable.IntValue(), "more replicas than the PDB keeps, or a drain blocks")
	workers, err := strconv.Atoi(m.configMap.Data["MANUALDAG_DATAWORKS_WORKERS"])
	require.NoError(t, err)
	assert.LessOrEqual(t, int(maxR), workers, "every worker KEDA may start shares the QPS: MANUALDAG_DATAWORKS_WORKERS ≥ maxReplicaCount")

	require.Len(t, so.Spec.Triggers, 1)
	tr := so.Spec.Triggers[0]
	assert.Equal(t, "temporal", tr.Type, "scale on Temporal's signal, not CPU")
	for k := range tr.Metadata {
		assert.Contains(t, temporalScalerMetadata, k, "the temporal scaler has no parameter %q", k)
	}
	// The scaler reads the address, namespace and queue from the worker's
	// own environment: the ConfigMap's variables, which the worker reads.
	for _, k := range []string{"endpointFromEnv", "namespaceFromEnv", "taskQueueFromEnv"} {
		v := tr.Metadata[k]
		require.NotEmpty(t, v, k)
		requireWorkerVariable(t, env, "the ScaledObject", v)
		assert.Contains(t, m.configMap.Data, v, "%s names a variable of the worker's ConfigMap", k)
	}
	// Activity tasks also wait for the task queue's DataWorks rate limit,
	// which more workers cannot raise.
	assert.Equal(t, "workflow", tr.Metadata["queueTypes"])
	n, err := strconv.Atoi(tr.Metadata["targetQueueSize"])
	require.NoError(t, err)
	assert.Positive(t, n)
}

func checkSearchAttributesJob(t *testing.T, m *manifests, job *batchv1.Job) {
	require.NotNil(t, job)
	spec := job.Spec.Template.Spec
	require.Len(t, spec.Containers, 1)
	c, worker := spec.Containers[0], m.deployment.Spec.Template.Spec.Containers[0]
	assert.Equal(t, worker.Image, c.Image, "the worker's image (kustomize sets both)")
	df := readDockerfile(t)
	assert.Equal(t, []string{"/usr/local/bin/starter"}, c.Command)
	assert.Contains(t, df.copies["manualdag"], c.Command[0], "the image has the starter")
	assert.Equal(t, []string{"search-attributes", "--register"}, c.Args, "TestDockerBuildCommand runs this command's help")
	assert.Equal(t, worker.EnvFrom, c.EnvFrom, "the worker's Temporal settings")
	for _, e := range c.Env {
		assert.Contains(t, worker.Env, e, "%s as the worker has it", e.Name)
	}
	assert.Equal(t, m.deployment.Spec.Template.Spec.SecurityContext, spec.SecurityContext, "the worker's user")
	assert.Equal(t, worker.SecurityContext, c.SecurityContext)
	assert.Equal(t, corev1.RestartPolicyOnFailure, spec.RestartPolicy)
	require.NotNil(t, job.Spec.TTLSecondsAfterFinished, "a finished Job goes, so that the next apply can create it with a new image")
	require.NotNil(t, job.Spec.BackoffLimit)
}

// tlsSecretKeys are the keys of a kubernetes.io/tls Secret (and cert-manager's).
var tlsSecretKeys = []string{"tls.crt", "tls.key", "ca.crt"}

// checkMTLSPatch checks a temporal-mtls patch against the pod it patches.
func checkMTLSPatch(t *testing.T, what string, patch, target corev1.PodSpec) {
	require.Len(t, patch.Containers, 1, what)
	pc := patch.Containers[0]
	names := make([]string, len(target.Containers))
	for i, c := range target.Containers {
		names[i] = c.Name
	}
	// Strategic merge matches containers by name: another name would add
	// a second, empty container.
	assert.Contains(t, names, pc.Name, "%s: the patch's container is the target's", what)
	require.Len(t, patch.Volumes, 1, what)
	vol := patch.Volumes[0]
	require.NotNil(t, vol.Secret, "%s: a Secret volume", what)
	require.Len(t, pc.VolumeMounts, 1)
	mount := pc.VolumeMounts[0]
	assert.Equal(t, vol.Name, mount.Name)
	assert.True(t, mount.ReadOnly)
	want := map[string]string{
		"TEMPORAL_TLS_CLIENT_CERT_PATH":    "tls.crt",
		"TEMPORAL_TLS_CLIENT_KEY_PATH":     "tls.key",
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "ca.crt",
	}
	require.Len(t, pc.Env, len(want), what)
	for _, e := range pc.Env {
		assert.True(t, externalEnv(e.Name), "%s: %s is not a variable of the Temporal SDK's envconfig", what, e.Name)
		assert.Equal(t, path.Join(mount.MountPath, want[e.Name]), e.Value, "%s: %s is the Secret's %s", what, e.Name, want[e.Name])
	}
	// The files are readable by the pod's user: group-readable with the
	// image's group as fsGroup (or world-readable).
	require.NotNil(t, vol.Secret.DefaultMode)
	mode := *vol.Secret.DefaultMode
	require.NotNil(t, target.SecurityContext)
	groupOK := mode&0o040 != 0 && patch.SecurityContext != nil && patch.SecurityContext.FSGroup != nil &&
		*patch.SecurityContext.FSGroup == *target.SecurityContext.RunAsGroup
	assert.True(t, mode&0o004 != 0 || groupOK, "%s: mode %o and fsGroup let uid %d read the key", what, mode, *target.SecurityContext.RunAsUser)
	assert.Zero(t, mode&0o002, "not writable by others")
}

func checkKEDAMTLS(t *testing.T, cs *components) {
	ta := cs.triggerAuth
	require.NotNil(t, ta)
	secret := cs.mtlsDeployment.Spec.Template.Spec.Volumes[0].Secret.SecretName
	byParam := map[string]string{}
	for _, r := range ta.Spec.SecretTargetRef {
		assert.Contains(t, temporalScalerAuth, r.Parameter, "the temporal scaler has no authentication parameter %q", r.Parameter)
		assert.Equal(t, secret, r.Name, "the temporal-mtls component's Secret")
		assert.Contains(t, tlsSecretKeys, r.Key)
		byParam[r.Parameter] = r.Key
	}
	assert.Equal(t, map[string]string{"cert": "tls.crt", "key": "tls.key", "ca": "ca.crt"}, byParam)
	assert.Equal(t, []string{"ScaledObject/" + cs.scaledObject.Name}, cs.targets["keda-temporal-mtls"])
	require.Len(t, cs.scaledPatch, 1)
	op := cs.scaledPatch[0]
	assert.Equal(t, "add", op.Op)
	assert.Equal(t, "/spec/triggers/0/authenticationRef", op.Path)
	assert.Equal(t, "temporal", cs.scaledObject.Spec.Triggers[0].Type, "trigger 0 is the temporal one")
	assert.Equal(t, map[string]any{"name": ta.Name}, op.Value)
	assert.True(t, strings.HasPrefix(ta.APIVersion, "keda.sh/"))
}
