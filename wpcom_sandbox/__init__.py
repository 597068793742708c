"""An in-memory emulator of WordPress.com (OAuth 2 server and a slice of the REST API) for the
local stack and tests. Standard library only; see `server.WordPressSandbox` to run it.
"""

from wpcom_sandbox.server import WordPressSandbox
from wpcom_sandbox.state import AccessToken, OAuthClient, RecordedRequest, SandboxState

__all__ = ["AccessToken", "OAuthClient", "RecordedRequest", "SandboxState", "WordPressSandbox"]
