"""What the mocked vCenter serves: its routing table.

SOAP goes to ``/sdk`` (vim25) and ``/pbm/sdk`` (SPBM); SmartConnect reads the two version
documents first. Content libraries and the host list are under ``/api`` (vCenter 7.0 U2 and
later) and ``/rest`` (every version); handlers are in :mod:`.responses`.
"""

from __future__ import annotations

import functools

from cloudcat.testing.routing import ANY, Route, Router

from . import responses as r
from .responses import Handler

__all__ = ["ROUTER", "VCENTER"]

VCENTER: list[Route[Handler]] = [
    Route("GET", "/sdk/vimServiceVersions.xml", r.service_versions),
    Route("GET", "/sdk/vimService.wsdl", r.service_wsdl),
    Route("POST", "/sdk", r.answer_vim),
    Route("POST", "/pbm/sdk", r.answer_pbm),
    Route("POST", "/api/session", r.rest_session),
    Route("DELETE", "/api/session", r.rest_logout),
    Route("GET", "/api/{rest:path}", r.rest_read),
    Route("POST", "/rest/com/vmware/cis/session", functools.partial(r.rest_session, legacy=True)),
    Route("DELETE", "/rest/com/vmware/cis/session", functools.partial(r.rest_logout, legacy=True)),
    Route("GET", "/rest/{rest:path}", functools.partial(r.rest_read, legacy=True)),
    Route(ANY, "/{rest:path}", r.unserved),
]

ROUTER: Router[Handler] = Router(VCENTER)
