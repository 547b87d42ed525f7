"""Shared fixtures for integration tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from veth_lab import VethLab, make_veth_lab, remove_veth_lab


@pytest.fixture
def veth_lab() -> Iterator[VethLab]:
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces and veth pairs")
    lab = make_veth_lab()
    try:
        yield lab
    finally:
        remove_veth_lab(lab.ns_a, lab.ns_b)
