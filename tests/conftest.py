"""Session fixtures shared by the engine tests: one tiny dataset, one trained run, one evaluation.

They are built once per session by ``engine_helpers`` and reused by test_train, test_evaluate and
test_cli.
"""

from __future__ import annotations

import os
import signal

import pytest

# The test processes themselves send ONNX Runtime nothing either (asdlib sets the same default
# when it imports onnxruntime; this covers tests that import onnx tools first).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import engine_helpers as H

# Under pytest-xdist (run_tests.sh) each worker takes its share of the cores: two workers on two
# cores each run one torch thread instead of two threads each fighting for both cores.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    import torch

    from asdlib.engine.cpu import usable_cores

    torch.set_num_threads(max(1, usable_cores() // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))


def pytest_collection_modifyitems(config, items):
    """The files holding a test marked ``slow`` (the longest, a minute at most) run first, then the
    others, each group from the file with the most tests down: with several workers (run_tests.sh
    hands out whole files in this order, ``--no-loadscope-reorder``) no long file is left to run
    alone at the end. Within a file the tests keep their order."""
    slow, count = set(), {}
    for item in items:
        count[item.path] = count.get(item.path, 0) + 1
        if item.get_closest_marker("slow"):
            slow.add(item.path)
    items.sort(key=lambda item: (item.path not in slow, -count[item.path], str(item.path)))


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


@pytest.fixture
def ctrl_c_interrupts():
    """SIGINT raises KeyboardInterrupt in this process and in the processes it starts, as at a
    terminal, for the test's duration. A test run started in the background (``nohup``, ``&`` in
    a script, some CI runners) inherits SIGINT ignored, and Python then keeps ignoring it: the
    Ctrl-C tests would wait for their timeouts and fail although the code is right."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)
