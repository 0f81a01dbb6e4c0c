"""The few Kubernetes API calls `pingpipe edge-volumes` makes, over HTTPS with the pod's own
service account (in-cluster: its token and CA, as every client library reads them)."""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeError(RuntimeError):
    """An API call that failed: the message says which, and what the API answered."""


@dataclass
class Kube:
    url: str  # https://host:port
    token: str = ""
    ca: str | None = None  # a CA bundle's path; None: the system's
    timeout: float = 30.0

    @classmethod
    def in_cluster(cls) -> Kube:
        """The API server of the pod's cluster (KUBERNETES_SERVICE_HOST), as its service account."""
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise KubeError("not in a Kubernetes pod (no KUBERNETES_SERVICE_HOST): give --api-url")
        try:
            token = (ACCOUNT / "token").read_text().strip()
        except OSError as exc:
            raise KubeError(f"no service account token: {exc}") from None
        return cls(f"https://{host}:{port}", token, str(ACCOUNT / "ca.crt"))

    def call(self, method: str, path: str, body: dict | None = None, missing_ok: bool = False) -> dict:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Accept": "application/json", "Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {self.token}"} if self.token else {}),
        )
        context = ssl.create_default_context(cafile=self.ca) if self.url.startswith("https:") else None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=context) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if missing_ok and exc.code == 404:
                return {}
            detail = exc.read().decode("utf-8", "replace")
            try:
                detail = json.loads(detail).get("message", detail)
            except ValueError:
                pass
            raise KubeError(f"{method} {path}: {exc.code} {detail}") from None
        except (OSError, ValueError) as exc:
            raise KubeError(f"{method} {path}: {exc}") from None

    def statefulset(self, namespace: str, name: str) -> dict:
        return self.call("GET", f"/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}")

    def claims(self, namespace: str) -> list[dict]:
        return self.call("GET", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims")["items"]

    def pods(self, namespace: str) -> list[dict]:
        return self.call("GET", f"/api/v1/namespaces/{namespace}/pods")["items"]

    def jobs(self, namespace: str, app: str) -> list[dict]:
        return self.call("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs?labelSelector=app%3D{app}")["items"]

    def create_job(self, namespace: str, job: dict) -> dict:
        return self.call("POST", f"/apis/batch/v1/namespaces/{namespace}/jobs", job)

    def delete_claim(self, namespace: str, name: str, uid: str) -> None:
        """Only that claim (its uid): one made since under the same name is another volume."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}}
        self.call("DELETE", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}", body, missing_ok=True)

    def delete_pod(self, namespace: str, name: str) -> None:
        self.call("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}", {"kind": "DeleteOptions", "apiVersion": "v1"}, missing_ok=True)

    def delete_job(self, namespace: str, name: str) -> None:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        self.call("DELETE", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}", body, missing_ok=True)
