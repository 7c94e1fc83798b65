"""Reading a service's ``/metrics`` as Prometheus would."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import ServiceProcess


@dataclass(frozen=True)
class Exposition:
    """One service's ``/metrics``, parsed."""

    families: dict[str, Metric]

    @classmethod
    def parse(cls, text: str) -> Exposition:
        return cls({family.name: family for family in text_string_to_metric_families(text)})

    @classmethod
    def scrape(cls, service: ServiceProcess | httpx.Client | str) -> Exposition:
        """From a service process, a client with the service as base URL, or a base URL."""
        if isinstance(service, str):
            response = httpx.get(service + "/metrics", timeout=5)
        else:
            response = service.get("/metrics")
        response.raise_for_status()
        return cls.parse(response.text)

    def sample_names(self) -> set[str]:
        return {sample.name for family in self.families.values() for sample in family.samples}

    def value(self, sample_name: str, **labels: str) -> float:
        """The sum of the samples named ``sample_name`` whose labels include ``labels``."""
        return sum(
            sample.value
            for family in self.families.values()
            for sample in family.samples
            if sample.name == sample_name and labels.items() <= sample.labels.items()
        )
