"""moto's server mode on loopback, to try `tether deploy` without an AWS account:
`.venv/bin/python -m tether.moto_server [--port 5000]`, then `AWS_ENDPOINT_URL=http://127.0.0.1:5000`.

moto's CloudFormation creates an `AWS::ApiGateway::RestApi` without reading its `Body`, so the
deployment of an API defined that way fails there ("The REST API doesn't contain any methods").
This server imports the body the way API Gateway does. Everything lives in memory."""

from __future__ import annotations

import argparse
import os
import threading
from typing import Any


def import_rest_api_bodies() -> None:
    """Teach moto's CloudFormation to import a RestApi's `Body` (an OpenAPI 3 document)."""
    from moto.apigateway import models

    rest_api: Any = models.RestAPI
    create = rest_api.create_from_cloudformation_json.__func__
    if getattr(create, "tether_imports_body", False):
        return

    def create_with_body(
        cls: Any, /, name: str, template: dict[str, Any], account_id: str, region: str, **kwargs: Any
    ) -> Any:
        api = create(cls, name, template, account_id, region, **kwargs)
        body = template["Properties"].get("Body")
        if body:
            backend = models.apigateway_backends[account_id][region]
            backend.put_rest_api(api.id, body, fail_on_warnings=False, mode="overwrite")
        return api

    create_with_body.tether_imports_body = True  # type: ignore[attr-defined]
    rest_api.create_from_cloudformation_json = classmethod(create_with_body)


def start(port: int = 0) -> Any:
    """Start the server on 127.0.0.1 (`port` 0: a free one); returns moto's ThreadedMotoServer."""
    from moto.server import ThreadedMotoServer

    import_rest_api_bodies()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def client_environment(server: Any, region: str) -> dict[str, str]:
    """This process's environment with AWS pointed at `server` (fake credentials, `region`),
    for the subprocesses a tool starts against it; no profile or other region leaks in."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION")
    }
    environment.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.get_host_and_port()[1]}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }
    )
    return environment


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=5000)
    port = parser.parse_args().port
    server = start(port)
    print(f"moto server on http://127.0.0.1:{server.get_host_and_port()[1]} (Ctrl+C stops it; data is in memory)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
