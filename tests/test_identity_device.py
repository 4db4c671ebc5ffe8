"""The device authorization flow (RFC 8628) against the test provider.

oidc-provider-mock (0.3.4 here; 0.4.8, the newest, needs Python 3.12 and has no device flow
either) registers only the authorization-code and refresh-token grants and publishes no
``device_authorization_endpoint``. So `wardgate login --device` cannot be tested end to end
against a real provider in this suite (docs/identity.md, "Not done yet"); what can be tested is
that the client reads the provider's discovery document and says so plainly, and that the
provider's token endpoint really refuses the device grant (so a test against it would not be
a test of the flow).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from identity_support import CLIENT_ID, Provider, running_provider
from wardgate.identity.flows import DEVICE_GRANT, FlowError, OAuthClient, device_login, discover

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:oidc_provider_mock.*"),
]


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider() as p:
        yield p


def test_the_test_provider_has_no_device_flow_and_login_says_so(provider: Provider) -> None:
    with httpx.Client() as http:
        metadata = discover(http, provider.issuer)
        assert "device_authorization_endpoint" not in metadata
        assert DEVICE_GRANT not in metadata.get("grant_types_supported", [])
        answer = http.post(
            metadata["token_endpoint"],
            data={"grant_type": DEVICE_GRANT, "device_code": "x", "client_id": CLIENT_ID},
        )
        assert answer.status_code == 400
        assert answer.json()["error"] == "unsupported_grant_type"
        client = OAuthClient(metadata=metadata, client_id=CLIENT_ID, client_secret="s")
        shown: list[str] = []
        with pytest.raises(FlowError, match="does not offer the device flow"):
            device_login(http, client, lambda code, uri, complete: shown.append(code))
        assert shown == []  # nothing shown to the user for a flow that cannot complete
