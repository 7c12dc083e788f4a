package deployments

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	composetypes "github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/manualdag/manualdag/workflows"
)

// The image's user: distroless "nonroot".
const nonrootUID = 65532

// ---------------------------------------------------------------- worker

// workerEnv reads the table in worker/config.go's doc comment: every
// variable the worker reads, with its default.
func workerEnv(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "worker", "config.go"))
	require.NoError(t, err)
	row := regexp.MustCompile(`^//\t-([a-z-]+)\s+([A-Z][A-Z0-9_]+)\s+(\S+)`)
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			env[m[2]] = m[3]
		}
	}
	require.Contains(t, env, "TEMPORAL_ADDRESS", "the table in worker/config.go was not found")
	return env
}

// externalEnv are variables read by the SDKs rather than worker/config.go:
// the Temporal SDK's envconfig (TEMPORAL_TLS*, TEMPORAL_API_KEY, …) and the
// Alibaba credential chain (sdk/auth/credentials: AccessKey, STS, RRSA/OIDC).
func externalEnv(name string) bool {
	switch name {
	case "TEMPORAL_API_KEY", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE",
		"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN",
		"ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
		"ALIBABA_CLOUD_ROLE_SESSION_NAME",
		"ALIBABA_CLOUD_REGION_ID": // the worker's region when MANUALDAG_DATAWORKS_REGION is unset
		return true
	}
	return strings.HasPrefix(name, "TEMPORAL_TLS")
}

func requireWorkerVariable(t *testing.T, env map[string]string, where, name string) {
	t.Helper()
	_, ok := env[name]
	assert.True(t, ok || externalEnv(name), "%s sets %s, which the worker does not read (worker/config.go lists what it reads)", where, name)
}

// metricsPort is the port of the worker's default metrics address.
func metricsPort(t *testing.T, env map[string]string) int {
	t.Helper()
	addr, ok := env["MANUALDAG_METRICS_ADDRESS"]
	require.True(t, ok, "worker/config.go has no MANUALDAG_METRICS_ADDRESS")
	return port(t, addr)
}

func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err, "address %q", addr)
	n, err := strconv.Atoi(p)
	require.NoError(t, err, "address %q", addr)
	return n
}

// ---------------------------------------------------------------- Kubernetes

// manifests holds every Kubernetes object under k8s/, decoded strictly.
type manifests struct {
	deployment    *appsv1.Deployment
	configMap     *corev1.ConfigMap
	serviceAcct   *corev1.ServiceAccount
	pdb           *policyv1.PodDisruptionBudget
	kustomization kustomization
	// files maps a path under k8s/ to the kinds it holds.
	files map[string][]string
}

// kustomization is the part of kustomize's schema the manifests use.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Components []string `json:"components,omitempty"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images"`
}

// splitDocuments splits a multi-document YAML file.
func splitDocuments(b []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(d, "")) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// decodeStrict decodes YAML as the API server's strict field validation
// does: case-sensitive field names (encoding/json would take hostnetwork
// for hostNetwork), no unknown and no duplicate fields.
func decodeStrict(doc []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{files: map[string][]string{}}
	root := "k8s"
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if strings.HasPrefix(filepath.ToSlash(rel), "components/") {
			return nil // loadComponents reads them, by their kustomization
		}
		if !strings.HasSuffix(path, ".yaml") {
			t.Errorf("%s: only .yaml files belong in k8s/", path)
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, doc := range splitDocuments(b) {
			var tm struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			require.NoError(t, yaml.Unmarshal(doc, &tm), "%s document %d", path, i)
			var obj any
			switch tm.APIVersion + " " + tm.Kind {
			case "kustomize.config.k8s.io/v1beta1 Kustomization":
				obj = &m.kustomization
			case "apps/v1 Deployment":
				m.deployment = &appsv1.Deployment{}
				obj = m.deployment
			case "v1 ConfigMap":
				m.configMap = &corev1.ConfigMap{}
				obj = m.configMap
			case "v1 ServiceAccount":
				m.serviceAcct = &corev1.ServiceAccount{}
				obj = m.serviceAcct
			case "v1 Namespace":
				obj = &corev1.Namespace{}
			case "policy/v1 PodDisruptionBudget":
				m.pdb = &policyv1.PodDisruptionBudget{}
				obj = m.pdb
			default:
				t.Errorf("%s document %d: %s %s is not a kind these tests know: add it to loadManifests", path, i, tm.APIVersion, tm.Kind)
				continue
			}
			// Unknown, duplicate or miscased fields fail: a misspelt field
			// would be ignored by a lenient apply.
			if err := decodeStrict(doc, obj); err != nil {
				t.Errorf("%s document %d (%s): %v", path, i, tm.Kind, err)
			}
			m.files[filepath.ToSlash(rel)] = append(m.files[filepath.ToSlash(rel)], tm.Kind)
		}
		return nil
	})
	require.NoError(t, err)
	for name, obj := range map[string]any{"Deployment": m.deployment, "ConfigMap": m.configMap, "ServiceAccount": m.serviceAcct,
		"PodDisruptionBudget": m.pdb} {
		require.NotNil(t, obj, "no %s under k8s/", name)
	}
	return m
}

func TestKubernetesManifestsDecodeStrictly(t *testing.T) {
	m := loadManifests(t)
	for file, kinds := range m.files {
		assert.NotContains(t, kinds, "Secret", "%s: no Secret with values in the repository; reference one", file)
	}
	// Every manifest is applied by the kustomization; the optional parts
	// are components, which a user lists under components.
	listed := map[string]bool{}
	for _, r := range m.kustomization.Resources {
		listed[r] = true
		assert.Contains(t, m.files, r, "kustomization.yaml lists %s, which does not exist", r)
	}
	for file := range m.files {
		if file != "kustomization.yaml" {
			assert.True(t, listed[file], "kustomization.yaml does not list %s", file)
		}
	}
	for _, c := range m.kustomization.Components {
		assert.DirExists(t, filepath.Join("k8s", c), "kustomization.yaml lists the component %s", c)
	}
}

// The strict decoder itself refuses a misspelt field (the check above would
// mean nothing otherwise).
func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	for doc, want := range map[string]string{
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 2\n":                                                                                                `unknown field "spec.replica"`,
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      hostnetwork: true\n":                                                             `unknown field "spec.template.spec.hostnetwork"`,
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 2\n  replicas: 3\n":                                                                                "replicas",
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: x\n        resources: {requests: {memory: 128MiB}}\n": "quantities must match",
	} {
		assert.ErrorContains(t, decodeStrict([]byte(doc), &appsv1.Deployment{}), want, "%s", doc)
	}
}

func TestKubernetesWorkerCrossChecks(t *testing.T) {
	m := loadManifests(t)
	env := workerEnv(t)
	d := m.deployment
	spec := d.Spec.Template.Spec
	require.Len(t, spec.Containers, 1)
	c := spec.Containers[0]
	labels := d.Spec.Template.Labels

	// Selectors select the pods.
	for what, sel := range map[string]map[string]string{"Deployment": d.Spec.Selector.MatchLabels, "PodDisruptionBudget": m.pdb.Spec.Selector.MatchLabels} {
		require.NotEmpty(t, sel, what)
		for k, v := range sel {
			assert.Equal(t, v, labels[k], "%s selector %s does not match the pod template's labels", what, k)
		}
	}
	minAvailable := m.pdb.Spec.MinAvailable.IntValue()
	assert.Greater(t, int(*d.Spec.Replicas), minAvailable, "more replicas than the PDB keeps, or a drain blocks")
	workers, err := strconv.Atoi(m.configMap.Data["MANUALDAG_DATAWORKS_WORKERS"])
	require.NoError(t, err, "MANUALDAG_DATAWORKS_WORKERS")
	assert.GreaterOrEqual(t, workers, int(*d.Spec.Replicas))
	assert.Equal(t, m.serviceAcct.Name, spec.ServiceAccountName)

	// Probes and scraping reach the worker's metrics port.
	want := metricsPort(t, env)
	assert.Equal(t, want, port(t, m.configMap.Data["MANUALDAG_METRICS_ADDRESS"]), "the ConfigMap's metrics address")
	portOf := func(p intstr.IntOrString) int {
		if p.Type == intstr.Int {
			return p.IntValue()
		}
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort)
			}
		}
		t.Errorf("no container port named %q", p.StrVal)
		return 0
	}
	for name, probe := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		require.NotNil(t, probe, "%s probe", name)
		require.NotNil(t, probe.HTTPGet, "%s probe is an HTTP GET", name)
		assert.Equal(t, want, portOf(probe.HTTPGet.Port), "%s probe port", name)
		wantPath := "/healthz"
		if name == "readiness" {
			wantPath = "/readyz"
		}
		assert.Equal(t, wantPath, probe.HTTPGet.Path, "%s probe path", name)
	}
	ann := d.Spec.Template.Annotations
	assert.Equal(t, "true", ann["prometheus.io/scrape"])
	assert.Equal(t, strconv.Itoa(want), ann["prometheus.io/port"])
	assert.Equal(t, "/metrics", ann["prometheus.io/path"])

	// Every variable is one the worker (or an SDK it uses) reads.
	for k := range m.configMap.Data {
		requireWorkerVariable(t, env, "the ConfigMap", k)
	}
	for _, e := range c.Env {
		requireWorkerVariable(t, env, "the Deployment", e.Name)
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			assert.NotNil(t, e.ValueFrom.SecretKeyRef.Optional, "%s: say whether the Secret is optional", e.Name)
		}
	}
	require.Len(t, c.EnvFrom, 1)
	assert.Equal(t, m.configMap.Name, c.EnvFrom[0].ConfigMapRef.Name)

	// Termination: the shutdown timeout covers the longest activity, the
	// grace period covers the shutdown timeout.
	shutdown, err := time.ParseDuration(m.configMap.Data["MANUALDAG_SHUTDOWN_TIMEOUT"])
	require.NoError(t, err)
	assert.GreaterOrEqual(t, shutdown, workflows.LongestActivity, "MANUALDAG_SHUTDOWN_TIMEOUT lets the longest activity finish")
	grace := time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	assert.GreaterOrEqual(t, grace, shutdown+15*time.Second, "terminationGracePeriodSeconds exceeds the shutdown timeout with room to spare")

	// RRSA: role and provider from the ConfigMap, the token projected for
	// STS at the path the variable names.
	for _, k := range []string{"ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"} {
		assert.True(t, strings.HasPrefix(m.configMap.Data[k], "acs:ram::"), "%s is a RAM ARN", k)
	}
	tokenFile := ""
	for _, e := range c.Env {
		if e.Name == "ALIBABA_CLOUD_OIDC_TOKEN_FILE" {
			tokenFile = e.Value
		}
	}
	require.NotEmpty(t, tokenFile, "ALIBABA_CLOUD_OIDC_TOKEN_FILE")
	found := false
	for _, vm := range c.VolumeMounts {
		if filepath.Dir(tokenFile) != vm.MountPath {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != vm.Name || v.Projected == nil {
				continue
			}
			for _, s := range v.Projected.Sources {
				if sat := s.ServiceAccountToken; sat != nil && sat.Path == filepath.Base(tokenFile) {
					found = true
					assert.Equal(t, "sts.aliyuncs.com", sat.Audience)
				}
			}
		}
	}
	assert.True(t, found, "%s is not a projected service account token", tokenFile)

	// The image's user and entrypoint.
	sc := spec.SecurityContext
	require.NotNil(t, sc)
	assert.True(t, *sc.RunAsNonRoot)
	assert.Equal(t, int64(nonrootUID), *sc.RunAsUser, "the image's nonroot user")
	assert.Empty(t, c.Command, "the image's entrypoint is the worker")
	assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	assert.False(t, c.Resources.Requests.Cpu().IsZero(), "a CPU request")
	assert.False(t, c.Resources.Limits.Memory().IsZero(), "a memory limit")
	require.Len(t, m.kustomization.Images, 1)
	assert.Equal(t, c.Image, m.kustomization.Images[0].Name, "kustomization.yaml sets the worker's image")
	assert.Equal(t, "manualdag", m.kustomization.Namespace)
}

// ---------------------------------------------------------------- Dockerfile

// dockerfile is the parts of the Dockerfile the checks read.
type dockerfile struct {
	stages     map[string]string // name → base image
	lastStage  string
	lastBase   string
	goImage    string
	build      []string // the RUN … go build command's words
	entrypoint map[string][]string
	user       map[string]string
	expose     map[string][]string
	copies     map[string][]string // stage → destination paths of COPY --from=build
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	df := dockerfile{stages: map[string]string{}, entrypoint: map[string][]string{}, user: map[string]string{}, expose: map[string][]string{}, copies: map[string][]string{}}
	args := map[string]string{}
	stage := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			args[k] = v
		case "FROM":
			f := strings.Fields(rest)
			image := os.Expand(f[0], func(k string) string { return args[k] })
			stage = image
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				stage = f[2]
			}
			df.stages[stage] = image
			df.lastStage, df.lastBase = stage, image
			if strings.HasPrefix(image, "golang:") {
				df.goImage = image
			}
		case "RUN":
			if strings.Contains(rest, "go build") {
				df.build = shellWords(t, rest)
			}
		case "ENTRYPOINT":
			require.NoError(t, yaml.Unmarshal([]byte(rest), new([]string)), "ENTRYPOINT is in exec form: %s", rest)
			var ep []string
			_ = yaml.Unmarshal([]byte(rest), &ep)
			df.entrypoint[stage] = ep
		case "USER":
			df.user[stage] = rest
		case "EXPOSE":
			df.expose[stage] = strings.Fields(rest)
		case "COPY":
			f := strings.Fields(rest)
			if strings.HasPrefix(f[0], "--from=build") {
				dst := f[len(f)-1]
				for _, src := range f[1 : len(f)-1] {
					p := dst
					if strings.HasSuffix(dst, "/") {
						p = dst + filepath.Base(src)
					}
					df.copies[stage] = append(df.copies[stage], p)
				}
			}
		}
	}
	require.NotEmpty(t, df.build, "no RUN … go build in the Dockerfile")
	return df
}

// shellWords splits a simple shell command, honouring single quotes.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			inQuote, have = !inQuote, true
		case (r == ' ' || r == '\t') && !inQuote:
			if have {
				words = append(words, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	require.False(t, inQuote, "unbalanced quote in %q", s)
	if have {
		words = append(words, cur.String())
	}
	return words
}

// buildCommand splits the Dockerfile's build into its environment, its go
// build flags (without -o), and its packages.
func (df dockerfile) buildCommand(t *testing.T) (env, flags, pkgs []string) {
	t.Helper()
	w := df.build
	i := 0
	for ; i < len(w) && strings.Contains(w[i], "=") && !strings.HasPrefix(w[i], "-"); i++ {
		env = append(env, w[i])
	}
	require.Equal(t, []string{"go", "build"}, w[i:i+2], "%q", w)
	for j := i + 2; j < len(w); j++ {
		switch {
		case w[j] == "-o":
			j++
		case strings.HasPrefix(w[j], "-"):
			flags = append(flags, w[j])
		default:
			pkgs = append(pkgs, w[j])
		}
	}
	return env, flags, pkgs
}

func TestDockerfile(t *testing.T) {
	df := readDockerfile(t)
	env, flags, pkgs := df.buildCommand(t)
	assert.Equal(t, []string{"CGO_ENABLED=0"}, env, "a static build")
	assert.Equal(t, []string{"-trimpath", "-ldflags=-s -w"}, flags)
	assert.Subset(t, pkgs, []string{"./worker", "./starter"})

	// The builder's Go is the module's.
	mod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	require.NoError(t, err)
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	require.NotNil(t, goLine)
	assert.True(t, strings.HasPrefix(df.goImage, "golang:"+string(goLine[1])), "builder %s, go.mod says go %s", df.goImage, goLine[1])

	// The final image (the default target): static distroless, nonroot,
	// the worker as entrypoint, the starter beside it, the metrics port.
	assert.Equal(t, "manualdag", df.lastStage)
	assert.True(t, strings.HasPrefix(df.lastBase, "gcr.io/distroless/static"), "final base %s", df.lastBase)
	assert.True(t, strings.HasSuffix(df.lastBase, ":nonroot"), "final base %s", df.lastBase)
	assert.Equal(t, "nonroot:nonroot", df.user["manualdag"])
	assert.Equal(t, []string{"/usr/local/bin/worker"}, df.entrypoint["manualdag"])
	assert.ElementsMatch(t, []string{"/usr/local/bin/worker", "/usr/local/bin/starter"}, df.copies["manualdag"])
	assert.Equal(t, []string{strconv.Itoa(metricsPort(t, workerEnv(t)))}, df.expose["manualdag"])
	require.Contains(t, df.stages, "emulator")
	assert.Equal(t, "/usr/local/bin/dataworks-emulator", df.entrypoint["emulator"][0])
	assert.Contains(t, df.copies["emulator"], "/usr/local/bin/dataworks-emulator")
	for _, c := range slices.Concat(df.copies["manualdag"], df.copies["emulator"]) {
		assert.Contains(t, pkgs, "./"+map[string]string{"worker": "worker", "starter": "starter", "dataworks-emulator": "cmd/dataworks-emulator"}[filepath.Base(c)],
			"%s is built by the build stage", c)
	}
}

// The Dockerfile's build stage, run here with the same flags and
// environment: it compiles, and the binaries are static and stripped (they
// run on distroless/static, which has no libc).
func TestDockerBuildCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries (-short)")
	}
	df := readDockerfile(t)
	env, flags, pkgs := df.buildCommand(t)
	out := t.TempDir()
	args := append(append([]string{"build"}, flags...), "-o", out+string(os.PathSeparator))
	cmd := exec.Command("go", append(args, pkgs...)...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s\n%s", strings.Join(cmd.Args[1:], " "), b)
	for _, p := range pkgs {
		path := filepath.Join(out, filepath.Base(p))
		f, err := elf.Open(path)
		require.NoError(t, err, "%s", path)
		for _, prog := range f.Progs {
			assert.NotEqual(t, elf.PT_INTERP, prog.Type, "%s is dynamically linked", path)
		}
		libs, _ := f.ImportedLibraries()
		assert.Empty(t, libs, "%s needs shared libraries", path)
		assert.Nil(t, f.Section(".symtab"), "%s is not stripped (-s)", path)
		f.Close()
	}
	// The starter runs (it needs nothing but its flags for help), and has
	// the command the search-attributes Job runs.
	help, err := exec.Command(filepath.Join(out, "starter"), "help").CombinedOutput()
	require.NoError(t, err, "%s", help)
	assert.Contains(t, string(help), "starter backfill")
	help, err = exec.Command(filepath.Join(out, "starter"), "search-attributes", "-h").CombinedOutput()
	require.NoError(t, err, "%s", help)
	assert.Contains(t, string(help), "-register")
	// Every binary says its version; the emulator's -h is a success.
	for _, bin := range []string{"worker", "dataworks-emulator"} {
		v, err := exec.Command(filepath.Join(out, bin), "-version").CombinedOutput()
		require.NoError(t, err, "%s", v)
		assert.True(t, strings.HasPrefix(string(v), bin+" "), "%s -version: %s", bin, v)
	}
	help, err = exec.Command(filepath.Join(out, "dataworks-emulator"), "-h").CombinedOutput()
	require.NoError(t, err, "dataworks-emulator -h exits 0: %s", help)
	assert.Contains(t, string(help), "MANUALDAG_EMULATOR_ADDR")
}

// ---------------------------------------------------------------- compose

func loadCompose(t *testing.T) *composetypes.Project {
	t.Helper()
	wd, err := os.Getwd()
	require.NoError(t, err)
	// Validated against the compose specification's JSON schema, with every
	// profile, as `docker compose --profile … config` would; the shell's
	// variables are left out so that the defaults are what is checked.
	p, err := loader.LoadWithContext(context.Background(), composetypes.ConfigDetails{
		WorkingDir:  wd,
		ConfigFiles: []composetypes.ConfigFile{{Filename: filepath.Join(wd, "docker-compose.yaml")}},
		Environment: composetypes.Mapping{},
	}, func(o *loader.Options) {
		o.SetProjectName("manualdag", true)
		o.Profiles = []string{"local", "aliyun", "tools"}
	})
	require.NoError(t, err)
	return p
}

func TestComposeFile(t *testing.T) {
	p := loadCompose(t)
	env := workerEnv(t)
	df := readDockerfile(t)
	svc := func(name string) composetypes.ServiceConfig {
		s, ok := p.Services[name]
		require.True(t, ok, "no service %s", name)
		return s
	}
	for _, name := range []string{"postgresql", "temporal-schema", "temporal", "temporal-ui", "search-attributes", "worker", "emulator", "worker-local", "starter"} {
		svc(name)
	}
	checkComposeTemporal(t, p.WorkingDir, svc("temporal-schema"), svc("temporal"), svc("search-attributes"))

	for _, name := range []string{"worker", "worker-local", "starter", "emulator"} {
		s := svc(name)
		require.NotNil(t, s.Build, "%s is built from the Dockerfile", name)
		assert.Equal(t, filepath.Join(p.WorkingDir, ".."), s.Build.Context)
		assert.Equal(t, "deployments/Dockerfile", s.Build.Dockerfile)
		assert.Contains(t, df.stages, s.Build.Target, "%s builds a stage of the Dockerfile", name)
	}
	assert.Equal(t, []string{"local"}, svc("emulator").Profiles)
	assert.Equal(t, []string{"local"}, svc("worker-local").Profiles)
	assert.Equal(t, []string{"aliyun"}, svc("worker").Profiles)
	assert.Equal(t, "service:emulator", svc("worker-local").NetworkMode, "plain HTTP to DataWorks only over loopback")
	assert.Equal(t, "127.0.0.1:8089", *svc("worker-local").Environment["MANUALDAG_DATAWORKS_ENDPOINT"])
	assert.Equal(t, "127.0.0.1:8089", *svc("emulator").Environment["MANUALDAG_EMULATOR_ADDR"])
	assert.Equal(t, []string{"/usr/local/bin/starter"}, []string(svc("starter").Entrypoint))

	metrics := metricsPort(t, env)
	for _, name := range []string{"worker", "worker-local"} {
		s := svc(name)
		for k := range s.Environment {
			requireWorkerVariable(t, env, "compose service "+name, k)
		}
		shutdown, err := time.ParseDuration(*s.Environment["MANUALDAG_SHUTDOWN_TIMEOUT"])
		require.NoError(t, err)
		assert.GreaterOrEqual(t, shutdown, workflows.LongestActivity, "%s: MANUALDAG_SHUTDOWN_TIMEOUT", name)
		require.NotNil(t, s.StopGracePeriod, name)
		assert.Greater(t, time.Duration(*s.StopGracePeriod), shutdown, "%s: stop_grace_period", name)
		assert.Equal(t, "temporal:7233", *s.Environment["TEMPORAL_ADDRESS"])
		assert.Contains(t, s.DependsOn, "search-attributes")
	}
	published := func(s composetypes.ServiceConfig) []uint32 {
		var ports []uint32
		for _, pc := range s.Ports {
			ports = append(ports, pc.Target)
		}
		return ports
	}
	assert.Contains(t, published(svc("worker")), uint32(metrics))
	assert.Contains(t, published(svc("emulator")), uint32(metrics), "worker-local's metrics, published on the namespace it shares")
	assert.NotEmpty(t, *svc("worker").Environment["ALIBABA_CLOUD_ACCESS_KEY_ID"]+"x", "from the shell")
	assert.Empty(t, *svc("worker").Environment["ALIBABA_CLOUD_ACCESS_KEY_SECRET"], "no credential in the file: it comes from the shell")

	// The search attributes registered are the workflow's, with their
	// types: the compose service runs deployments/temporal/namespace.sh,
	// which runs search-attributes.sh.
	sa := svc("search-attributes")
	assert.Equal(t, "temporal:7233", *sa.Environment["TEMPORAL_ADDRESS"])
	script, err := os.ReadFile(filepath.Join(p.WorkingDir, "temporal", "search-attributes.sh"))
	require.NoError(t, err)
	for _, k := range workflows.SearchAttributeKeys() {
		typ := k.GetValueType().String() // Keyword, Int: as the CLI's --type spells them
		assert.Contains(t, string(script), `"`+k.GetName()+" "+typ+`"`, "search-attributes.sh registers %s as %s", k.GetName(), typ)
	}
}

// checkComposeTemporal: Temporal in compose is make cluster's (the issue
// that retired temporalio/auto-setup): the server image of the Makefile's
// version started with deployments/temporal/cluster.yaml, after a schema job
// that runs setup-schema.sh on the same database, and a job that runs
// namespace.sh once the server is healthy. Every script and file they name
// is mounted from deployments/temporal/.
func checkComposeTemporal(t *testing.T, dir string, schema, server, setup composetypes.ServiceConfig) {
	t.Helper()
	mk, err := os.ReadFile(filepath.Join(dir, "..", "Makefile"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^TEMPORAL_SERVER_VERSION\s*:=\s*v(\S+)`).FindSubmatch(mk)
	require.NotNil(t, m, "TEMPORAL_SERVER_VERSION in the Makefile")
	version := string(m[1])
	assert.Equal(t, "temporalio/server:"+version, server.Image, "the server make cluster builds")
	assert.Equal(t, "temporalio/admin-tools:"+version, schema.Image, "temporal-sql-tool of the server's version")
	assert.Equal(t, "temporalio/admin-tools:"+version, setup.Image)

	// mounted is the file of deployments/temporal a container path names.
	mounted := func(s composetypes.ServiceConfig, path string) string {
		t.Helper()
		for _, v := range s.Volumes {
			if rel, err := filepath.Rel(v.Target, path); err == nil && !strings.HasPrefix(rel, "..") {
				assert.Equal(t, filepath.Join(dir, "temporal"), v.Source, "%s mounts deployments/temporal", s.Name)
				assert.True(t, v.ReadOnly, "%s: read-only mount", s.Name)
				f := filepath.Join(v.Source, rel)
				_, err := os.Stat(f)
				assert.NoError(t, err, "%s: %s", s.Name, path)
				return f
			}
		}
		t.Errorf("%s: %s is not in a mounted folder", s.Name, path)
		return ""
	}
	for _, job := range []struct {
		s      composetypes.ServiceConfig
		script string
	}{{schema, "setup-schema.sh"}, {setup, "namespace.sh"}} {
		require.Len(t, job.s.Entrypoint, 2, job.s.Name)
		assert.Equal(t, "bash", job.s.Entrypoint[0])
		assert.Equal(t, job.script, filepath.Base(mounted(job.s, job.s.Entrypoint[1])), job.s.Name)
	}
	assert.Contains(t, schema.DependsOn, "postgresql")
	assert.Equal(t, composetypes.ServiceConditionCompletedSuccessfully, server.DependsOn["temporal-schema"].Condition)
	assert.Equal(t, composetypes.ServiceConditionHealthy, setup.DependsOn["temporal"].Condition)
	require.NotNil(t, server.HealthCheck, "the others wait for a healthy server")

	// One database: the SQL_* variables (temporal-sql-tool's, read by
	// cluster.yaml) agree.
	for _, k := range []string{"SQL_HOST", "SQL_PORT", "SQL_USER", "SQL_PASSWORD"} {
		require.NotNil(t, server.Environment[k], k)
		require.NotNil(t, schema.Environment[k], k)
		assert.Equal(t, *schema.Environment[k], *server.Environment[k], k)
	}
	cmd := strings.Join(server.Entrypoint, " ")
	root := regexp.MustCompile(`--root (\S+) --config (\S+) --env (\S+)`).FindStringSubmatch(cmd)
	require.NotNil(t, root, "the server is started with --root, --config and --env: %s", cmd)
	cfg := mounted(server, filepath.Join(root[1], root[2], root[3]+".yaml"))
	assert.Equal(t, "cluster.yaml", filepath.Base(cfg))
	mounted(server, *server.Environment["CLUSTER_DYNAMIC_CONFIG"])
	b, err := os.ReadFile(cfg)
	require.NoError(t, err)
	for k := range server.Environment {
		assert.Contains(t, string(b), `env "`+k+`"`, "cluster.yaml reads %s", k)
	}
	assert.Contains(t, cmd, "CLUSTER_BROADCAST_ADDRESS=", "bound to 0.0.0.0, the services must tell each other the container's address")
}

// With a Docker CLI that has the compose plugin, `docker compose config`
// must accept the file too (it needs no engine).
func TestDockerComposeConfig(t *testing.T) {
	if exec.Command("docker", "compose", "version").Run() != nil {
		t.Skip("no docker compose plugin here; TestComposeFile validates with compose-go, the library it is built on")
	}
	cmd := exec.Command("docker", "compose", "-f", "docker-compose.yaml", "--profile", "local", "--profile", "aliyun", "--profile", "tools", "config", "--quiet")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}
