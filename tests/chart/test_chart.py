"""The Helm chart's behaviour, read from the manifests it renders (Helm SDK, no cluster)."""

from __future__ import annotations

import json
import os
import re
import shutil
import typing
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from cga_auth.settings import AuthSettings
from cga_core.config import ServiceSettings
from cga_gateway.settings import GatewaySettings
from cga_memory_proxy.settings import MemoryProxySettings
from cga_worker.settings import WorkerSettings
from scripts.chart import check, values_doc
from scripts.monitoring import rules_check
from scripts.monitoring.rule_files import JOBS, load_rule_files
from tests.chart.rendering import (
    CHART,
    CI_VALUES,
    COMPONENTS,
    FULLNAME,
    NAMESPACE,
    Manifest,
    ci_values,
    component_name,
    copy_chart,
    named,
    of_kind,
    pod_specs,
    render,
    render_templates,
)

SETTINGS: dict[str, type[ServiceSettings]] = {
    "gateway": GatewaySettings,
    "auth": AuthSettings,
    "memory-proxy": MemoryProxySettings,
    "worker": WorkerSettings,
}
VALUES_KEY = {
    "gateway": "gateway",
    "auth": "auth",
    "memory-proxy": "memoryProxy",
    "worker": "worker",
}
# Obviously secret values, as an operator might try to put them into values files.
CANARY = "canary-secret-4d1f9e"
SECRET_LOOKING: dict[str, str] = {
    "CGA_DATABASE_URL": f"postgresql+asyncpg://cga:{CANARY}@db:5432/cga",
    "CGA_REDIS_URL": f"redis://:{CANARY}@redis:6379/0",
    "CGA_INTERNAL_TOKEN": f"internal-{CANARY}",
    "CGA_AUTH_ADMIN_TOKEN": f"admin-{CANARY}",
    "CGA_AUTH_SIGNING_KEYS": f'[{{"kty": "RSA", "d": "{CANARY}"}}]',
    "CGA_MEMORY_PROXY_MEM0_API_KEY": f"mem0-{CANARY}",
    "CGA_MEMORY_PROXY_MEM0_PLATFORM_API_KEY": f"platform-{CANARY}",
}
EXTERNAL_SECRET: dict[str, Any] = {
    "enabled": True,
    "secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"},
    "remoteRefs": {
        name: {"key": f"cga/{name}"}
        for name in (
            "databaseUrl",
            "redisUrl",
            "internalToken",
            "authAdminToken",
            "authSigningKeys",
        )
    },
}


@pytest.fixture(scope="module")
def default() -> list[Manifest]:
    return render()


@pytest.fixture(scope="module", params=[None, *CI_VALUES], ids=lambda p: p.stem if p else "default")
def every_value_set(request: pytest.FixtureRequest) -> list[Manifest]:
    path: Path | None = request.param
    return render(ci_values(path) if path else None)


def container(manifest: Manifest) -> dict[str, Any]:
    containers: list[dict[str, Any]] = manifest["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def selectors(manifests: list[Manifest]) -> dict[str, dict[str, str]]:
    """Every label selector the release's objects select pods with."""
    found: dict[str, dict[str, str]] = {}
    for m in manifests:
        where = f"{m['kind']}/{m['metadata']['name']}"
        spec = m.get("spec", {})
        if m["kind"] in ("Deployment", "PodDisruptionBudget", "ServiceMonitor"):
            found[where] = spec["selector"]["matchLabels"]
        elif m["kind"] == "Service":
            found[where] = spec["selector"]
        elif m["kind"] == "NetworkPolicy":
            found[where] = spec["podSelector"]["matchLabels"]
        if m["kind"] == "Deployment":
            for index, constraint in enumerate(
                spec["template"]["spec"]["topologySpreadConstraints"]
            ):
                found[f"{where} spread {index}"] = constraint["labelSelector"]["matchLabels"]
    return found


# --- labels and selectors --------------------------------------------------------------------


def test_selectors_never_carry_the_chart_or_app_version(every_value_set: list[Manifest]) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    for where, selector in selectors(every_value_set).items():
        assert "helm.sh/chart" not in selector, where
        assert "app.kubernetes.io/version" not in selector, where
        for value in selector.values():
            assert chart["version"] not in value, where
            assert chart["appVersion"] not in value, where


def test_selectors_and_names_stay_the_same_across_a_version_bump(
    tmp_path: Path, default: list[Manifest]
) -> None:
    chart = copy_chart(tmp_path)
    chart_file = chart / "Chart.yaml"
    metadata = yaml.safe_load(chart_file.read_text())
    metadata["version"] = "9.8.7"
    metadata["appVersion"] = "9.8.7"
    chart_file.write_text(yaml.safe_dump(metadata))

    bumped = render(chart=chart)

    assert selectors(bumped) == selectors(default)
    deployment = named(bumped, "Deployment", component_name("gateway"))
    assert deployment["metadata"]["labels"]["helm.sh/chart"] == "custom-gpt-adapter-9.8.7"
    assert container(deployment)["image"] == "custom-gpt-adapter:9.8.7"


def test_every_object_carries_the_recommended_labels(every_value_set: list[Manifest]) -> None:
    for m in every_value_set:
        labels = m["metadata"]["labels"]
        for key in ("name", "instance", "component", "version", "part-of", "managed-by"):
            assert f"app.kubernetes.io/{key}" in labels, f"{m['kind']}/{m['metadata']['name']}"
        assert m["metadata"]["namespace"] == NAMESPACE


# --- pods ------------------------------------------------------------------------------------


def test_every_container_is_hardened(every_value_set: list[Manifest]) -> None:
    specs = list(pod_specs(every_value_set))
    assert specs
    for where, spec in specs:
        assert spec["automountServiceAccountToken"] is False, where
        assert spec["enableServiceLinks"] is False, where
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] == 10001, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for c in spec["containers"]:
            security = c["securityContext"]
            assert security["runAsNonRoot"] is True, where
            assert security["runAsUser"] == 10001, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["privileged"] is False, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}, where
            tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]  # noqa: S108
            assert len(tmp) == 1, where
            assert tmp[0]["name"] in tmp_volumes, where


@pytest.mark.parametrize("component", COMPONENTS)
def test_deployments_probe_livez_and_readyz_and_drain_before_stopping(
    default: list[Manifest], component: str
) -> None:
    deployment = named(default, "Deployment", component_name(component))
    spec = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    assert c["command"] == [f"cga-{component}"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert c["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    settings = named(default, "ConfigMap", component_name(component))["data"]
    prefix = SETTINGS[component].model_config["env_prefix"]
    assert settings[f"{prefix}SHUTDOWN_GRACE"] == "20s"
    assert spec["terminationGracePeriodSeconds"] >= 20 + 5
    assert spec["topologySpreadConstraints"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_grace_period_follows_the_shutdown_grace_and_the_pre_stop_sleep() -> None:
    manifests = render({"preStopSleepSeconds": 8, "worker": {"shutdownGraceSeconds": 45}})
    worker = named(manifests, "Deployment", component_name("worker"))
    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 45 + 8
    assert container(worker)["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "8"]
    data = named(manifests, "ConfigMap", component_name("worker"))["data"]
    assert data["CGA_WORKER_SHUTDOWN_GRACE"] == "45s"


def test_resources_are_empty_by_default_and_come_from_values(default: list[Manifest]) -> None:
    for where, spec in pod_specs(default):
        assert "resources" not in spec["containers"][0], where
    resources = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
    manifests = render({"gateway": {"resources": resources}})
    assert (
        container(named(manifests, "Deployment", component_name("gateway")))["resources"]
        == resources
    )


def test_a_settings_change_rolls_only_that_service(default: list[Manifest]) -> None:
    changed = render({"worker": {"settings": {"CGA_WORKER_MAX_JOBS": 5}}})

    def checksums(manifests: list[Manifest]) -> dict[str, str]:
        return {
            d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"][
                "checksum/config"
            ]
            for d in of_kind(manifests, "Deployment")
        }

    before, after = checksums(default), checksums(changed)
    assert before[component_name("worker")] != after[component_name("worker")]
    for component in ("gateway", "auth", "memory-proxy"):
        assert before[component_name(component)] == after[component_name(component)]


def test_auth_exposes_the_public_and_the_admin_port(default: list[Manifest]) -> None:
    ports = named(default, "Service", component_name("auth"))["spec"]["ports"]
    assert {(p["name"], p["port"]) for p in ports} == {("http", 8001), ("admin", 8011)}
    for component, port in (("gateway", 8000), ("memory-proxy", 8002), ("worker", 8003)):
        service_ports = named(default, "Service", component_name(component))["spec"]["ports"]
        assert [(p["name"], p["port"]) for p in service_ports] == [("http", port)]


# --- settings --------------------------------------------------------------------------------


def _env_of(manifests: list[Manifest], component: str) -> dict[str, str]:
    """The environment the chart gives a service: its ConfigMap plus its Secret keys."""
    deployment = named(manifests, "Deployment", component_name(component))
    env = dict(named(manifests, "ConfigMap", component_name(component))["data"])
    for variable in container(deployment)["env"]:
        assert set(variable) == {"name", "valueFrom"}, "secrets come only from secretKeyRef"
        env[variable["name"]] = SECRET_LOOKING[variable["valueFrom"]["secretKeyRef"]["key"]]
    return env


@pytest.mark.parametrize("path", [None, *CI_VALUES], ids=lambda p: p.stem if p else "default")
@pytest.mark.parametrize("component", COMPONENTS)
def test_each_service_accepts_the_settings_the_chart_gives_it(
    path: Path | None, component: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifests = render(ci_values(path) if path else None)
    for name in [n for n in os.environ if n.startswith("CGA_")]:
        monkeypatch.delenv(name)
    for name, value in _env_of(manifests, component).items():
        monkeypatch.setenv(name, value)

    settings = SETTINGS[component]()

    assert settings.host == "0.0.0.0"  # noqa: S104 - the pod's address
    port = next(
        p
        for p in container(named(manifests, "Deployment", component_name(component)))["ports"]
        if p["name"] == "http"
    )
    assert settings.port == port["containerPort"]


def test_the_gateway_and_auth_share_one_https_origin_and_find_each_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifests = render({"publicUrl": "https://memory.example.org/"})
    gateway = named(manifests, "ConfigMap", component_name("gateway"))["data"]
    auth = named(manifests, "ConfigMap", component_name("auth"))["data"]
    worker = named(manifests, "ConfigMap", component_name("worker"))["data"]
    origin = "https://memory.example.org"
    assert gateway["CGA_GATEWAY_PUBLIC_URL"] == origin
    assert gateway["CGA_GATEWAY_AUTH_PUBLIC_URL"] == origin
    assert auth["CGA_AUTH_PUBLIC_URL"] == origin
    assert gateway["CGA_GATEWAY_AUTH_INTERNAL_URL"] == f"http://{component_name('auth')}:8001"
    memory_proxy = f"http://{component_name('memory-proxy')}:8002"
    assert gateway["CGA_GATEWAY_MEMORY_PROXY_URL"] == memory_proxy
    assert worker["CGA_WORKER_MEMORY_PROXY_URL"] == memory_proxy
    service_names = {s["metadata"]["name"] for s in of_kind(manifests, "Service")}
    assert {component_name("auth"), component_name("memory-proxy")} <= service_names


def _is_secret(info: FieldInfo) -> bool:
    return info.annotation is SecretStr or SecretStr in typing.get_args(info.annotation)


def _secret_fields(settings: type[ServiceSettings]) -> dict[str, bool]:
    """Env name of each secret field -> whether the service refuses to start without it
    (an optional one, `SecretStr | None`, is needed only by some backends)."""
    return {
        settings.variable_name(name): info.annotation is SecretStr
        for name, info in settings.model_fields.items()
        if _is_secret(info)
    }


@pytest.mark.parametrize(
    ("backend", "backend_key"),
    [
        ("local", None),
        ("mem0", "CGA_MEMORY_PROXY_MEM0_API_KEY"),
        ("mem0-platform", "CGA_MEMORY_PROXY_MEM0_PLATFORM_API_KEY"),
    ],
)
def test_each_service_gets_exactly_the_secret_keys_it_reads(
    backend: str, backend_key: str | None
) -> None:
    manifests = render({"memoryProxy": {"backend": backend}})
    for component, settings in SETTINGS.items():
        deployment = named(manifests, "Deployment", component_name(component))
        references = {
            v["name"]: v["valueFrom"]["secretKeyRef"] for v in container(deployment)["env"]
        }
        fields = _secret_fields(settings)
        expected = {name for name, required in fields.items() if required}
        if component == "memory-proxy" and backend_key:
            expected.add(backend_key)
        assert set(references) == expected, component
        for name, reference in references.items():
            assert reference == {"name": FULLNAME, "key": name}
    job = named(manifests, "Job", component_name("migrate"))
    job_secrets = [
        v["name"]
        for v in job["spec"]["template"]["spec"]["containers"][0]["env"]
        if "valueFrom" in v
    ]
    assert job_secrets == ["CGA_DATABASE_URL"]


# --- secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attempt",
    [
        {"secrets": {"databaseUrl": SECRET_LOOKING["CGA_DATABASE_URL"]}},
        {"secrets": {"CGA_AUTH_ADMIN_TOKEN": SECRET_LOOKING["CGA_AUTH_ADMIN_TOKEN"]}},
        {"auth": {"settings": {"CGA_AUTH_ADMIN_TOKEN": SECRET_LOOKING["CGA_AUTH_ADMIN_TOKEN"]}}},
        {"auth": {"settings": {"CGA_AUTH_SIGNING_KEYS": SECRET_LOOKING["CGA_AUTH_SIGNING_KEYS"]}}},
        {"gateway": {"settings": {"CGA_INTERNAL_TOKEN": SECRET_LOOKING["CGA_INTERNAL_TOKEN"]}}},
        {"worker": {"settings": {"CGA_REDIS_URL": SECRET_LOOKING["CGA_REDIS_URL"]}}},
        {"memoryProxy": {"settings": {"CGA_MEMORY_PROXY_MEM0_API_KEY": "mem0-" + CANARY}}},
        {"config": {"databaseUrl": SECRET_LOOKING["CGA_DATABASE_URL"]}},
        {"secrets": {"externalSecret": {"remoteRefs": {"redisUrl": {"value": CANARY}}}}},
        {"secrets": {"externalSecret": {"data": {"CGA_REDIS_URL": CANARY}}}},
    ],
    ids=lambda attempt: json.dumps(attempt)[:60],
)
def test_no_values_slot_takes_a_secret(attempt: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        render(attempt)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"secrets": {"existingSecret": "cga-secrets"}},
        {"secrets": {"externalSecret": EXTERNAL_SECRET}},
    ],
    ids=["fallback-secret", "existing-secret", "external-secret"],
)
def test_secrets_never_reach_a_configmap_and_the_chart_creates_no_secret(
    values: dict[str, Any],
) -> None:
    manifests = render(values)
    assert of_kind(manifests, "Secret") == []
    for configmap in of_kind(manifests, "ConfigMap"):
        for name in SECRET_LOOKING:
            assert name not in configmap["data"], configmap["metadata"]["name"]
    text = json.dumps(manifests)
    assert CANARY not in text
    secret_name = values.get("secrets", {}).get("existingSecret") or FULLNAME
    for _, spec in pod_specs(manifests):
        for variable in spec["containers"][0].get("env", []):
            if variable["name"] in SECRET_LOOKING:
                assert "value" not in variable
                assert variable["valueFrom"]["secretKeyRef"]["name"] == secret_name


def test_the_external_secret_fills_the_secret_the_pods_read() -> None:
    external = json.loads(json.dumps(EXTERNAL_SECRET))
    external["remoteRefs"]["databaseUrl"]["property"] = "url"
    external["remoteRefs"]["mem0ApiKey"] = {"key": "cga/mem0"}
    manifests = render(
        {"secrets": {"externalSecret": external}, "memoryProxy": {"backend": "mem0"}}
    )

    (resource,) = of_kind(manifests, "ExternalSecret")
    assert resource["apiVersion"] == "external-secrets.io/v1"
    assert resource["spec"]["secretStoreRef"] == {"name": "vault", "kind": "ClusterSecretStore"}
    assert resource["spec"]["target"]["name"] == FULLNAME
    data = {d["secretKey"]: d["remoteRef"] for d in resource["spec"]["data"]}
    assert data == {
        "CGA_DATABASE_URL": {"key": "cga/databaseUrl", "property": "url"},
        "CGA_REDIS_URL": {"key": "cga/redisUrl"},
        "CGA_INTERNAL_TOKEN": {"key": "cga/internalToken"},
        "CGA_AUTH_ADMIN_TOKEN": {"key": "cga/authAdminToken"},
        "CGA_AUTH_SIGNING_KEYS": {"key": "cga/authSigningKeys"},
        "CGA_MEMORY_PROXY_MEM0_API_KEY": {"key": "cga/mem0"},
    }


def test_the_external_secret_needs_every_remote_key_it_uses() -> None:
    external = json.loads(json.dumps(EXTERNAL_SECRET))
    with pytest.raises(helm_python.HelmRenderError, match=r"remoteRefs\.mem0ApiKey\.key"):
        render({"secrets": {"externalSecret": external}, "memoryProxy": {"backend": "mem0"}})
    with pytest.raises(helm_python.HelmRenderError, match="either externalSecret"):
        render({"secrets": {"externalSecret": external, "existingSecret": "cga-secrets"}})


# --- network policies ------------------------------------------------------------------------


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector; an empty one selects everything."""
    if selector is None:
        return False
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        present, value = expression["key"] in labels, labels.get(expression["key"])
        operator = expression["operator"]
        if (
            (operator == "In" and value not in expression["values"])
            or (operator == "NotIn" and present and value in expression["values"])
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


class Pod(typing.NamedTuple):
    name: str
    namespace: str
    labels: dict[str, str]
    ports: dict[str, int]  # container port name -> number


def _admits(policies: list[Manifest], source: Pod, target: Pod, port: int) -> bool:
    """NetworkPolicy semantics for ingress: allowed when no policy selects the target, else
    when a rule of one selecting policy matches the source and the port."""
    selecting = [
        p
        for p in policies
        if "Ingress" in p["spec"]["policyTypes"]
        and p["metadata"]["namespace"] == target.namespace
        and _selects(p["spec"]["podSelector"], target.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            peers_match = "from" not in rule or any(
                _peer_matches(peer, source, policy["metadata"]["namespace"])
                for peer in rule["from"]
            )
            ports_match = "ports" not in rule or any(
                target.ports.get(p["port"], p["port"]) == port for p in rule["ports"]
            )
            if peers_match and ports_match:
                return True
    return False


def _peer_matches(peer: dict[str, Any], source: Pod, policy_namespace: str) -> bool:
    namespace_labels = {"kubernetes.io/metadata.name": source.namespace}
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], namespace_labels):
            return False
        return "podSelector" not in peer or _selects(peer["podSelector"], source.labels)
    return source.namespace == policy_namespace and _selects(peer.get("podSelector"), source.labels)


def _release_pods(manifests: list[Manifest]) -> list[Pod]:
    pods = []
    for manifest in manifests:
        if manifest["kind"] in ("Deployment", "Job"):
            template = manifest["spec"]["template"]
            labels, spec = template["metadata"]["labels"], template["spec"]
        elif manifest["kind"] == "Pod":
            labels, spec = manifest["metadata"]["labels"], manifest["spec"]
        else:
            continue
        ports = {p["name"]: p["containerPort"] for p in spec["containers"][0].get("ports", [])}
        pods.append(Pod(labels["app.kubernetes.io/component"], NAMESPACE, labels, ports))
    return pods


OUTSIDERS = [
    Pod("ingress-controller", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}, {}),
    Pod("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"}, {}),
    Pod("other-pod-same-namespace", NAMESPACE, {"app": "other"}, {}),
    Pod("other-pod-ingress-namespace", "ingress-nginx", {"app": "other"}, {}),
    Pod(
        "ingress-controller-lookalike", "elsewhere", {"app.kubernetes.io/name": "ingress-nginx"}, {}
    ),
    Pod("prometheus-lookalike", NAMESPACE, {"app.kubernetes.io/name": "prometheus"}, {}),
]


def _allowed_paths(manifests: list[Manifest]) -> set[tuple[str, str, int]]:
    policies = of_kind(manifests, "NetworkPolicy")
    release = _release_pods(manifests)
    probe_ports = {8000, 8001, 8002, 8003, 8011, 8080}  # every service port, and one unused
    return {
        (source.name, target.name, port)
        for source in [*release, *OUTSIDERS]
        for target in release
        for port in probe_ports
        if _admits(policies, source, target, port)
    }


def _intended_paths(*, with_test_pod: bool) -> set[tuple[str, str, int]]:
    http = {"gateway": 8000, "auth": 8001, "memory-proxy": 8002, "worker": 8003}
    paths = {
        ("ingress-controller", "gateway", 8000),
        ("ingress-controller", "auth", 8001),
        ("gateway", "auth", 8001),  # the signing keys (JWKS)
        ("gateway", "memory-proxy", 8002),
        ("worker", "memory-proxy", 8002),
    }
    paths |= {("prometheus", component, port) for component, port in http.items()}
    same_namespace = [
        "gateway",
        "auth",
        "memory-proxy",
        "worker",
        "migrate",
        "other-pod-same-namespace",
    ]
    same_namespace += ["prometheus-lookalike"]
    if with_test_pod:
        same_namespace.append("test")
        paths |= {("test", component, port) for component, port in http.items()}
    paths |= {(source, "auth", 8011) for source in same_namespace}  # the admin API
    return paths


def test_network_policies_allow_exactly_the_intended_paths(default: list[Manifest]) -> None:
    assert _allowed_paths(default) == _intended_paths(with_test_pod=True)


def test_without_the_test_pod_nothing_is_opened_for_it() -> None:
    manifests = render({"tests": {"enabled": False}})
    assert _allowed_paths(manifests) == _intended_paths(with_test_pod=False)


def test_the_ingress_controller_and_prometheus_selectors_come_from_values() -> None:
    manifests = render(
        {
            "networkPolicy": {
                "ingressControllerPeers": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "edge"}
                        },
                        "podSelector": {"matchLabels": {"app": "traefik"}},
                    }
                ]
            }
        }
    )
    policies = of_kind(manifests, "NetworkPolicy")
    gateway = next(p for p in _release_pods(manifests) if p.name == "gateway")
    traefik = Pod("traefik", "edge", {"app": "traefik"}, {})
    assert _admits(policies, traefik, gateway, 8000)
    assert not _admits(policies, OUTSIDERS[0], gateway, 8000)


def test_egress_is_open_by_default_and_restricted_on_request(default: list[Manifest]) -> None:
    for policy in of_kind(default, "NetworkPolicy"):
        assert policy["spec"]["policyTypes"] == ["Ingress"]
    rule = {
        "to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
        "ports": [{"port": 5432, "protocol": "TCP"}],
    }
    manifests = render({"networkPolicy": {"egress": {"restrict": True, "rules": [rule]}}})
    egress = named(manifests, "NetworkPolicy", f"{FULLNAME}-egress")
    assert egress["spec"]["policyTypes"] == ["Egress"]
    assert egress["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "custom-gpt-adapter",
        "app.kubernetes.io/instance": "cga",
    }
    rules = egress["spec"]["egress"]
    assert {p["port"] for p in rules[0]["ports"]} == {53}  # DNS
    assert rules[-1] == rule


def test_network_policies_can_be_switched_off() -> None:
    assert of_kind(render({"networkPolicy": {"enabled": False}}), "NetworkPolicy") == []


# --- ingress ---------------------------------------------------------------------------------


def test_one_tls_host_serves_the_api_and_the_oauth_server() -> None:
    manifests = render(
        {
            "publicUrl": "https://memory.example.org",
            "ingress": {"className": "nginx", "clusterIssuer": "letsencrypt-prod"},
        }
    )
    (ingress,) = of_kind(manifests, "Ingress")
    spec = ingress["spec"]
    assert (
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    )
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["memory.example.org"], "secretName": f"{FULLNAME}-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == "memory.example.org"
    routes = {
        p["path"]: (p["backend"]["service"]["name"], p["backend"]["service"]["port"])
        for p in rule["http"]["paths"]
    }
    gateway, auth = (
        (component_name("gateway"), {"name": "http"}),
        (component_name("auth"), {"name": "http"}),
    )
    assert routes == {
        "/api": gateway,
        "/docs": gateway,
        "/docs-assets": gateway,
        "/redoc": gateway,
        "/openapi.json": gateway,
        "/privacy": gateway,
        "/oauth": auth,
        "/.well-known": auth,
    }


def test_the_admin_port_is_never_routed(every_value_set: list[Manifest]) -> None:
    for ingress in of_kind(every_value_set, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["port"] == {"name": "http"}


def test_without_a_cluster_issuer_there_is_no_cert_manager_annotation(
    default: list[Manifest],
) -> None:
    (ingress,) = of_kind(default, "Ingress")
    assert "cert-manager.io/cluster-issuer" not in ingress["metadata"].get("annotations", {})
    assert of_kind(render({"ingress": {"enabled": False}}), "Ingress") == []


# --- migrations and hooks --------------------------------------------------------------------


def _migration_job(manifests: list[Manifest]) -> Manifest:
    (job,) = [
        j
        for j in of_kind(manifests, "Job")
        if j["metadata"]["labels"]["app.kubernetes.io/component"] == "migrate"
    ]
    return job


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(default: list[Manifest]) -> None:
    job = _migration_job(default)
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert annotations["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded"
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["cga-migrate", "upgrade", "head"]
    # A pre-install hook runs before the ConfigMaps exist: its settings are inline.
    assert "envFrom" not in c
    assert {v["name"] for v in c["env"]} >= {"CGA_ENV", "CGA_DATABASE_URL"}


def test_with_the_external_secret_migrations_wait_for_the_install() -> None:
    job = _migration_job(render({"secrets": {"externalSecret": EXTERNAL_SECRET}}))
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    chosen = render(
        {
            "secrets": {"externalSecret": EXTERNAL_SECRET},
            "migrations": {"hooks": {"events": "pre-install,pre-upgrade"}},
        }
    )
    assert (
        _migration_job(chosen)["metadata"]["annotations"]["helm.sh/hook"]
        == "pre-install,pre-upgrade"
    )


def test_without_hooks_the_migration_is_a_plain_job_named_after_the_image() -> None:
    values: dict[str, Any] = {"migrations": {"hooks": {"enabled": False}}}
    job = _migration_job(render(values))
    assert not any(key.startswith("helm.sh/hook") for key in job["metadata"]["annotations"])
    assert re.fullmatch(rf"{FULLNAME}-migrate-[0-9a-f]{{10}}", job["metadata"]["name"])
    newer = _migration_job(render({**values, "image": {"tag": "0.2.0"}}))
    assert newer["metadata"]["name"] != job["metadata"]["name"]
    assert _migration_job(render(values))["metadata"]["name"] == job["metadata"]["name"]


def test_migrations_can_be_switched_off() -> None:
    manifests = render({"migrations": {"enabled": False}})
    assert of_kind(manifests, "Job") == []


def test_the_helm_test_pod_checks_every_service_readiness(default: list[Manifest]) -> None:
    (pod,) = of_kind(default, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    c = pod["spec"]["containers"][0]
    assert c["command"] == ["cga-admin", "status"]
    urls = {v["name"]: v["value"] for v in c["env"]}
    assert urls == {
        "CGA_ADMIN_GATEWAY_URL": f"http://{component_name('gateway')}:8000",
        "CGA_ADMIN_AUTH_URL": f"http://{component_name('auth')}:8001",
        "CGA_ADMIN_MEMORY_PROXY_URL": f"http://{component_name('memory-proxy')}:8002",
        "CGA_ADMIN_WORKER_URL": f"http://{component_name('worker')}:8003",
    }
    assert of_kind(render({"tests": {"enabled": False}}), "Pod") == []


# --- feature switches ------------------------------------------------------------------------


@pytest.mark.parametrize("component", COMPONENTS)
def test_autoscaling_replaces_the_fixed_replica_count(
    component: str, default: list[Manifest]
) -> None:
    assert of_kind(default, "HorizontalPodAutoscaler") == []
    key = VALUES_KEY[component]
    manifests = render(
        {key: {"autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 9}}}
    )
    (hpa,) = of_kind(manifests, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": component_name(component),
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 9)
    assert "replicas" not in named(manifests, "Deployment", component_name(component))["spec"]


def test_disruption_budgets_and_service_accounts_are_switchable(default: list[Manifest]) -> None:
    assert len(of_kind(default, "PodDisruptionBudget")) == 4
    assert len(of_kind(default, "ServiceAccount")) == 4
    manifests = render(
        {
            "gateway": {"podDisruptionBudget": {"enabled": False}},
            "worker": {"serviceAccount": {"create": False, "name": "shared"}},
        }
    )
    budgets = {b["metadata"]["name"] for b in of_kind(manifests, "PodDisruptionBudget")}
    assert component_name("gateway") not in budgets
    accounts = {a["metadata"]["name"] for a in of_kind(manifests, "ServiceAccount")}
    assert component_name("worker") not in accounts
    worker = named(manifests, "Deployment", component_name("worker"))
    assert worker["spec"]["template"]["spec"]["serviceAccountName"] == "shared"


def test_monitoring_objects_are_off_by_default(default: list[Manifest]) -> None:
    kinds = {m["kind"] for m in default}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "ExternalSecret"}
    assert [c for c in of_kind(default, "ConfigMap") if "dashboards" in c["metadata"]["name"]] == []


def test_the_service_monitor_scrapes_every_service_under_a_stable_job_name() -> None:
    manifests = render(
        {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}}}}
    )
    (monitor,) = of_kind(manifests, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kps"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http"
    assert endpoint["path"] == "/metrics"
    services = of_kind(manifests, "Service")
    assert len(services) == 4
    jobs = set()
    for service in services:
        assert _selects(monitor["spec"]["selector"], service["metadata"]["labels"])
        jobs.add(_scrape_job(endpoint["relabelings"], service["metadata"]["labels"]))
    # The names the alert rules select, whatever the release is called.
    assert jobs == JOBS


def _scrape_job(relabelings: list[dict[str, Any]], service_labels: dict[str, str]) -> str:
    """The job label Prometheus gives a target of this Service (its `replace` relabelings
    applied to the Service-label meta labels; job starts as the Service's name)."""
    labels = {
        "__meta_kubernetes_service_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", name): value
        for name, value in service_labels.items()
    }
    labels["job"] = "the-service-name"
    for step in relabelings:
        assert step.get("action", "replace") == "replace"
        source = ";".join(labels.get(name, "") for name in step["sourceLabels"])
        matched = re.fullmatch(step.get("regex", "(.*)"), source)
        if matched:
            labels[step["targetLabel"]] = matched.expand(
                step.get("replacement", "$1").replace("$", "\\")
            )
    return labels["job"]


RULES_ON = {"metrics": {"prometheusRule": {"enabled": True, "labels": {"release": "kps"}}}}


def _rule_groups(manifests: list[Manifest]) -> list[dict[str, Any]]:
    (rule,) = of_kind(manifests, "PrometheusRule")
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def _alerts(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _promtool_problems(groups: list[dict[str, Any]], tmp_path: Path) -> list[str]:
    rule_file = tmp_path / "rendered.rules.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": groups}))
    return rules_check.promtool_check([rule_file])


def test_the_prometheus_rule_with_default_values_is_the_rule_source(tmp_path: Path) -> None:
    manifests = render(RULES_ON)

    (rule,) = of_kind(manifests, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kps"
    groups = _rule_groups(manifests)
    assert groups == [group for source in load_rule_files() for group in source.groups]
    assert _promtool_problems(groups, tmp_path) == []
    # Valid for the Prometheus Operator's CRD, as chart-check validates it.
    rendered = tmp_path / "rule.yaml"
    rendered.write_text(yaml.safe_dump(rule))
    report = check.Report()
    check.validate_custom_resources([rendered], check.TOOLS, report)
    assert report.problems == []


def test_values_set_runbook_urls_alert_labels_and_queue_thresholds(tmp_path: Path) -> None:
    prefix = "https://runbooks.example.org/cga/"
    values = {
        "metrics": {
            "prometheusRule": {
                "enabled": True,
                "runbookUrlPrefix": prefix,
                "alertLabels": {"team": "memory"},
                "queueBackup": {"depth": 250, "oldestJobAgeSeconds": 1800},
            }
        }
    }

    groups = _rule_groups(render(values))

    alerts = _alerts(groups)
    for alert in alerts:
        assert alert["annotations"]["runbook_url"] == f"{prefix}{alert['alert']}.md"
        assert alert["labels"]["team"] == "memory"
        assert alert["labels"]["severity"] in {"critical", "warning"}
    (backlog,) = (a for a in alerts if a["alert"] == "CustomGptAdapterQueueBackup")
    assert re.search(r"cga_queue_depth\{[^}]*\}\) > 250\b", backlog["expr"])
    assert re.search(r"cga_queue_oldest_job_age_seconds\{[^}]*\}\) > 1800\b", backlog["expr"])
    assert _promtool_problems(groups, tmp_path) == []


def test_an_alert_label_cannot_replace_the_severity() -> None:
    with pytest.raises(helm_python.HelmValuesError):
        render({"metrics": {"prometheusRule": {"alertLabels": {"severity": "info"}}}})


def test_a_chart_value_marker_without_its_value_fails_the_render(tmp_path: Path) -> None:
    chart = copy_chart(tmp_path)
    rules = chart / "files" / "prometheus-rules.yaml"
    rules.write_text(rules.read_text().replace("queueBackup.depth", "queueBackup.size"))

    with pytest.raises(helm_python.HelmRenderError, match=r"queueBackup\.size"):
        render(RULES_ON, chart=chart)


def test_the_dashboards_configmap_holds_every_chart_dashboard() -> None:
    dashboards = sorted((CHART / "files" / "dashboards").glob("*.json"))
    assert dashboards, "no dashboards in the chart: run `make monitoring-sync`"
    manifests = render({"metrics": {"grafanaDashboards": {"enabled": True}}})

    configmap = named(manifests, "ConfigMap", f"{FULLNAME}-dashboards")

    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert set(configmap["data"]) == {path.name for path in dashboards}
    for path in dashboards:
        assert json.loads(configmap["data"][path.name]) == json.loads(path.read_text())


def test_without_generated_files_nothing_is_rendered(tmp_path: Path) -> None:
    chart = copy_chart(tmp_path)
    (chart / "files" / "prometheus-rules.yaml").unlink()
    shutil.rmtree(chart / "files" / "dashboards")
    switched_on = {
        "metrics": {"prometheusRule": {"enabled": True}, "grafanaDashboards": {"enabled": True}}
    }

    manifests = render(switched_on, chart=chart)

    assert of_kind(manifests, "PrometheusRule") == []
    assert [
        c for c in of_kind(manifests, "ConfigMap") if "dashboards" in c["metadata"]["name"]
    ] == []
    assert of_kind(render(RULES_ON), "PrometheusRule")


# --- values schema ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        {"replicas": 3},  # unknown top-level key
        {"gateway": {"replicas": 3}},  # unknown key in a service
        {"gateway": {"autoscaling": {"targetMemory": 80}}},  # unknown nested key
        {"gateway": {"replicaCount": "three"}},  # wrong type
        {"ingress": {"enabled": "yes"}},  # wrong type
        {"memoryProxy": {"backend": "redis"}},  # not one of the backends
        {"gateway": {"settings": {"CGA_GATEWAY_PORT": 9000}}},  # set by the chart
        {"gateway": {"settings": {"CGA_GATEWAY_RATE_LIMIT_READ": "open"}}},  # a typo
        {"publicUrl": "http://memory.example.org"},  # plain http in production
        {"publicUrl": "https://memory.example.org/api"},  # a path
        {"image": {"digest": "latest"}},
    ],
    ids=lambda values: json.dumps(values)[:60],
)
def test_the_schema_rejects_unknown_keys_and_wrong_types(values: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        render(values)


def test_development_may_use_plain_http() -> None:
    manifests = render(
        {"config": {"environment": "development"}, "publicUrl": "http://localhost:8080"}
    )
    auth = named(manifests, "ConfigMap", component_name("auth"))["data"]
    assert auth["CGA_AUTH_PUBLIC_URL"] == "http://localhost:8080"


def _objects_without_closed_properties(node: Any, path: str = "#") -> list[str]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            closed = (
                node.get("additionalProperties") is False
                or node.get("unevaluatedProperties") is False
                or isinstance(node.get("additionalProperties"), dict)  # a map of typed values
            )
            if not closed:
                found.append(path)
        for key, child in node.items():
            if key not in ("if", "then", "else"):  # conditions on objects closed elsewhere
                found += _objects_without_closed_properties(child, f"{path}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _objects_without_closed_properties(child, f"{path}/{index}")
    return found


def test_the_schema_closes_every_object() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    # `$defs/workload` is closed by each service with unevaluatedProperties (it is extended).
    open_objects = [
        p for p in _objects_without_closed_properties(schema) if p != "#/$defs/workload"
    ]
    assert open_objects == []


def _settings_the_values_may_set(settings: type[ServiceSettings]) -> set[str]:
    """A service's own settings, less secrets and what the chart derives itself."""
    chart_managed = {
        "HOST",
        "PORT",
        "SHUTDOWN_GRACE",
        "ADMIN_PORT",
        "PUBLIC_URL",
        "AUTH_PUBLIC_URL",
    }
    chart_managed |= {"AUTH_INTERNAL_URL", "MEMORY_PROXY_URL", "BACKEND"}
    prefix = settings.model_config["env_prefix"]
    names = set()
    for name, info in settings.model_fields.items():
        variable = settings.variable_name(name)
        if (
            variable.startswith(prefix)
            and not _is_secret(info)
            and variable.removeprefix(prefix) not in chart_managed
        ):
            names.add(variable)
    return names


@pytest.mark.parametrize("component", COMPONENTS)
def test_the_schema_lists_exactly_the_settings_of_each_service(component: str) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    listed = schema["properties"][VALUES_KEY[component]]["properties"]["settings"]["propertyNames"][
        "enum"
    ]
    assert set(listed) == _settings_the_values_may_set(SETTINGS[component])


# --- documentation ---------------------------------------------------------------------------


def test_every_value_is_documented_in_values_and_the_readme() -> None:
    assert values_doc.readme_problem(CHART) is None
    readme = (CHART / "README.md").read_text()
    for value in values_doc.described_values(CHART / "values.yaml"):
        assert value.description, value.path
        assert f"| `{value.path}` |" in readme


def test_the_readme_check_catches_a_changed_default_and_an_undocumented_value(
    tmp_path: Path,
) -> None:
    chart = copy_chart(tmp_path)
    values = chart / "values.yaml"
    original = values.read_text()
    values.write_text(original.replace("  replicaCount: 2\n", "  replicaCount: 3\n", 1))
    assert values_doc.readme_problem(chart) == "README.md is out of date: run `make chart-docs`"
    values_doc.main(["--chart", str(chart)])
    assert values_doc.readme_problem(chart) is None
    values.write_text(original + "extraKnob: 1\n")
    assert "extraKnob" in (values_doc.readme_problem(chart) or "")


def test_notes_explain_how_to_create_the_first_app() -> None:
    notes = render_templates()["custom-gpt-adapter/templates/NOTES.txt"]
    assert "cga-admin" in notes
    assert "apps create" in notes
    assert f"kubectl -n {NAMESPACE} exec deploy/{component_name('auth')}" in notes
    assert f"port-forward svc/{component_name('auth')} 8011:8011" in notes
    for key in ("CGA_DATABASE_URL", "CGA_AUTH_ADMIN_TOKEN", "CGA_AUTH_SIGNING_KEYS"):
        assert key in notes


def test_helm_lint_passes_strictly_for_every_value_set() -> None:
    for path in [None, *CI_VALUES]:
        report = helm_python.lint(
            CHART, ci_values(path) if path else {}, strict=True, kube_version="1.30"
        )
        problems = [m for m in report["messages"] if m["severity"] >= 2]
        assert problems == [], path


@pytest.mark.parametrize(
    ("image", "reference", "policy"),
    [
        ({}, "custom-gpt-adapter:0.1.0", "Always"),
        ({"tag": "1.2.3"}, "custom-gpt-adapter:1.2.3", "Always"),
        ({"digest": "sha256:" + "a" * 64}, "custom-gpt-adapter@sha256:" + "a" * 64, "IfNotPresent"),
        # skaffold sets the tag as tag@digest
        (
            {"tag": "abc@sha256:" + "b" * 64},
            "custom-gpt-adapter:abc@sha256:" + "b" * 64,
            "IfNotPresent",
        ),
        ({"pullPolicy": "Never"}, "custom-gpt-adapter:0.1.0", "Never"),
    ],
)
def test_a_tag_is_pulled_always_and_a_digest_once(
    image: dict[str, str], reference: str, policy: str
) -> None:
    for _, spec in pod_specs(render({"image": image})):
        assert spec["containers"][0]["image"] == reference
        assert spec["containers"][0]["imagePullPolicy"] == policy
