"""The driver conformance kit: pytest classes a driver author subclasses.

::

    from cloudcat.testing.conformance import DriverConformance

    class TestAcme(DriverConformance):
        driver = "acme"        # registered name, or the driver class itself
        mock = "acme"          # a ``cloudcat.mocks`` platform the kit starts for the class
        sdk_modules = ["acme_sdk"]   # modules the driver must import lazily

Every check declares what it needs with :func:`requires` (``@requires("paging", "mock")``): a
capability the driver declares (:class:`cloudcat.driver.Capabilities`), a mock platform, secrets
in the options, an SDK module… Before a check runs, the kit skips it *with a reason* when a
requirement is not met ("driver does not declare paging (capabilities.paging)"), when the suite
lists it in ``unsupported``, or when it is newer than the suite's ``kit_level`` — never a silent
pass. A declared capability that does not work is a failure. The requirements are listed, with
their reasons, in :data:`REQUIREMENTS`.

What is checked, one module per topic:

* :mod:`~.driver_class`: the driver class and its registration, ``check()``;
* :mod:`~.regions`: regions, and the ``regions`` option;
* :mod:`~.kinds`: every declared kind, and that undeclared kinds raise
  :class:`~cloudcat.errors.NotSupportedError`;
* :mod:`~.items`: every item against the model; item ids unique and stable across two reads;
  unknown prices null (never 0), ISO 4217 currencies, memory in MiB, vCPU >= 1;
* :mod:`~.capabilities`: capabilities matching what items carry; complete listings under a page
  size of 1;
* :mod:`~.faults`: backend failures surfacing as cloudcat errors (unavailable, malformed, rate
  limited with retry-after, authentication, expired tokens renewed, timeout honoured, calls
  ended at the deadline they run under);
* :mod:`~.secrets`: secrets typed ``SecretStr`` and absent from reprs, logs and errors;
* :mod:`~.imports`: the driver module importable without its SDK;
* :mod:`~.offers`: through :func:`cloudcat.open_catalog`, offers that validate, with unique ids
  that begin with the brand and stay stable across refreshes.

The class attributes and fixtures a suite sets are in :mod:`~.fixtures`; the requirements and
the gate in :mod:`~.requirements`; kit levels in :mod:`~.levels`; the ``--cloudcat-backend`` file
in :mod:`~.backend_file`.

Fixtures an author may override: ``backend_options`` (the driver's options; by default the
mock's; ``--cloudcat-backend FILE`` takes precedence), and, class-scoped (override them as
``@pytest.fixture(scope="class")`` + ``@classmethod``), ``mock_fixture`` (the fixture catalog
the mock serves) and ``mock_faults`` (faults the mock starts with). The mock is started once
per test class; checks that inject faults restore them (and reset the platform) afterwards.

Pointing the same tests at a real endpoint::

    pytest tests/test_conformance.py --cloudcat-backend acme-prod.yaml

where the file (YAML or JSON) holds ``{driver: acme, options: {...}}``; ``${VAR}`` in option
strings is read from the environment, so secrets stay out of the file. Fault-injection checks
need a mock and are skipped, with that reason, against a real endpoint.

The kit is versioned by :data:`KIT_LEVEL` (see "Writing a driver", versioning policy): a check
added at a later level than the class's ``kit_level`` is skipped with a reason until the author
raises ``kit_level``.
"""

from __future__ import annotations

from ...secrets import SECRET_NAME
from .backend_file import BACKEND_OPTION, load_backend_file
from .capabilities import CapabilityChecks
from .currencies import ISO_4217
from .driver_class import DriverClassChecks
from .faults import FaultChecks
from .imports import ImportChecks
from .items import ItemChecks
from .kinds import KindChecks
from .levels import CHECKS, KIT_LEVEL
from .listing import Listing, read_listing
from .offers import OfferChecks
from .regions import RegionChecks
from .requirements import REQUIREMENTS, Requirement, RequirementGate, requires
from .secrets import SecretChecks, find_option_secrets

__all__ = [
    "BACKEND_OPTION",
    "CHECKS",
    "ISO_4217",
    "KIT_LEVEL",
    "REQUIREMENTS",
    "SECRET_NAME",
    "DriverConformance",
    "Listing",
    "Requirement",
    "find_option_secrets",
    "load_backend_file",
    "read_listing",
    "requires",
]


# pytest runs inherited tests base class first, so the topics are listed last-run first: the
# checks run from the driver class to the offers, cheap ones before fault injection.
class DriverConformance(OfferChecks, ImportChecks, SecretChecks, FaultChecks, CapabilityChecks,
                        ItemChecks, KindChecks, RegionChecks, DriverClassChecks, RequirementGate):
    """Conformance tests for one driver. Subclass it in a ``Test*`` class and set :attr:`driver`.

    Class attributes (all optional except :attr:`driver`):

    * :attr:`driver`: the registered driver name, or the driver class;
    * :attr:`mock`: a ``cloudcat.mocks`` name or a :class:`~cloudcat.testing.MockPlatform` class;
      without it, override the ``backend_options`` fixture (checks that require ``mock`` are then
      skipped with their reason);
    * :attr:`sdk_modules` / :attr:`sdk_package`: the cloud SDK the driver imports lazily;
    * :attr:`secret_options`: option names that hold secrets (fields typed ``SecretStr`` and names
      like ``password`` or ``token`` are found without it);
    * :attr:`unsupported`: ``{key: reason}`` for checks that cannot apply, reported as skips; a key
      is a check (a test name without ``test_``), optionally with its parameter
      (``"capability_declared[flexible_compute]"``), or a requirement name (``"mock"``) to skip
      every check that requires it;
    * :attr:`kit_level`: the kit level the driver was written against;
    * :attr:`fault_deadline`, :attr:`timeout_option`, :attr:`timeout_latency_ms`,
      :attr:`retry_after`, :attr:`token_ttl`: bounds of the fault checks.

    An author's own tests in the subclass may use :func:`requires` too.
    """
