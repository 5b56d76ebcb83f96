"""The stack deployed into moto for one block of code: what the tests and the benchmarks share.

:func:`deployed_stack` deploys ``template.yaml`` into the active moto mock, sets the functions'
environment in this process and clears the caches the caller names (the handlers' cached clients,
stores and settings, which would otherwise keep pointing at an earlier deployment); on the way out
it clears them again and restores the environment::

    with mock_aws(), deployed_stack("us-east-1", {}, [core_settings, _runtime.store]) as stack:
        ...
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from opspilot_sim.stack import SimulatedStack, apply_environment, deploy


@contextmanager
def deployed_stack(
    region: str, overrides: dict[str, Any], caches: Iterable[Any] = ()
) -> Iterator[SimulatedStack]:
    """The stack in the active moto mock for the block; ``caches`` are ``functools.cache`` functions."""
    caches = list(caches)
    boto3.DEFAULT_SESSION = None  # clients made from here on go through the mock
    stack = deploy(region, overrides)
    previous = apply_environment(stack)
    for cached in caches:
        cached.cache_clear()
    try:
        yield stack
    finally:
        for cached in caches:
            cached.cache_clear()
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
