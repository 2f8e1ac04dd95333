"""Session fixtures shared by the engine tests: one tiny dataset, one trained run, one evaluation.

They are built once per session by ``engine_helpers`` and reused by test_train, test_evaluate and
test_cli.
"""

from __future__ import annotations

import os

import pytest

# The test processes themselves send ONNX Runtime nothing either (asdlib sets the same default
# when it imports onnxruntime; this covers tests that import onnx tools first).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import engine_helpers as H


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    return H.shared_dataset(tmp_path_factory)


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory):
    return H.shared_run(tmp_path_factory)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """The session's data folder (its cache holds the tiny training store)."""
    return H.session_base(tmp_path_factory) / "data"


@pytest.fixture(scope="session")
def evaluation(tmp_path_factory):
    return H.shared_evaluation(tmp_path_factory)
