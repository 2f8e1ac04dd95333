"""Building checkpoints for the tests: realistic PyTorch Lightning 1.x/2.x files (without Lightning
installed) and hostile files whose unpickling would run a command.

Not a test module (no ``test_`` prefix).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import sys
import types
from collections import OrderedDict

import torch

#: Where each Lightning generation defines the classes it pickles into a checkpoint.
LIGHTNING_NAMES = {
    "2.x": {"version": "2.1.3", "attribute_dict": "lightning_fabric.utilities.data"},
    "1.x": {"version": "1.4.9", "attribute_dict": "pytorch_lightning.utilities.parsing",
            "checkpoint_callback": "pytorch_lightning.callbacks.model_checkpoint"},
}


@contextlib.contextmanager
def fake_modules(**classes: type):
    """Make ``module.Class`` importable while the block runs (for pickling), then unimportable again.

    Keys are dotted module names, values the class to place there under its own ``__name__``.
    """
    added = []
    try:
        for module_name, cls in classes.items():
            parts = module_name.split(".")
            for k in range(1, len(parts) + 1):  # parents first: pickle imports the whole path
                name = ".".join(parts[:k])
                if name not in sys.modules:
                    sys.modules[name] = types.ModuleType(name)
                    added.append(name)
                    if k > 1:
                        setattr(sys.modules[".".join(parts[:k - 1])], parts[k - 1], sys.modules[name])
            module = sys.modules[module_name]
            cls.__module__ = module_name
            cls.__qualname__ = cls.__name__
            setattr(module, cls.__name__, cls)
        yield
    finally:
        for name in reversed(added):
            del sys.modules[name]


def _attribute_dict_class() -> type:
    class AttributeDict(dict):  # what Lightning's AttributeDict is: a dict with attribute access
        def __getattr__(self, key):
            try:
                return self[key]
            except KeyError as e:
                raise AttributeError(key) from e

        def __setattr__(self, key, value):
            self[key] = value

    return AttributeDict


def _optimizer_and_scheduler_states() -> tuple[dict, dict]:
    params = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(4))]
    opt = torch.optim.AdamW(params, lr=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=300, eta_min=1e-5)
    (params[0].sum() + params[1].sum()).backward()
    opt.step()
    sched.step()
    return opt.state_dict(), sched.state_dict()


def lightning_checkpoint(state_dict: dict, generation: str = "2.x", **extra) -> dict:
    """A checkpoint shaped like Lightning's ``trainer.save_checkpoint`` output; call inside ``lightning_pickling``."""
    names = LIGHTNING_NAMES[generation]
    AttributeDict = sys.modules[names["attribute_dict"]].AttributeDict
    opt_state, sched_state = _optimizer_and_scheduler_states()
    hparams = AttributeDict(lr=1e-4, s=40.0, m=0.7, batch_size=64, epochs=300,
                            save_dir=pathlib.PosixPath("/home/user/runs/MWM"),
                            args=argparse.Namespace(gpus=1, seed=40, data="dcase2020"))
    callback_state = {
        "monitor": "val_auc", "best_model_score": torch.tensor(0.9344),
        "best_model_path": "/home/user/runs/MWM/MWM_93.44_s40_m0.7.ckpt",
        "current_score": torch.tensor(0.9344), "dirpath": "/home/user/runs/MWM",
        "best_k_models": {"/home/user/runs/MWM/MWM_93.44_s40_m0.7.ckpt": torch.tensor(0.9344)},
        "kth_best_model_path": "/home/user/runs/MWM/MWM_93.44_s40_m0.7.ckpt",
        "kth_value": torch.tensor(0.9344), "last_model_path": "",
    }
    if generation == "1.x":  # Lightning < 1.5 keys callback states by the callback class itself
        key = sys.modules[names["checkpoint_callback"]].ModelCheckpoint
    else:
        key = ("ModelCheckpoint{'monitor': 'val_auc', 'mode': 'max', 'every_n_train_steps': 0, "
               "'every_n_epochs': 1, 'train_time_interval': None}")
    ckpt = {
        "epoch": 39, "global_step": 22_680, "pytorch-lightning_version": names["version"],
        "state_dict": OrderedDict(state_dict),
        "loops": {"fit_loop": {"state_dict": {}, "epoch_loop.state_dict": {"_batches_that_stepped": 22_680},
                               "epoch_loop.batch_progress": {
                                   "total": {"ready": 22_680, "completed": 22_680, "started": 22_680,
                                             "processed": 22_680},
                                   "current": {"ready": 567, "completed": 567, "started": 567,
                                               "processed": 567},
                                   "is_last_batch": True}}},
        "callbacks": {key: callback_state},
        "optimizer_states": [opt_state],
        "lr_schedulers": [sched_state],
        "hparams_name": "kwargs",
        "hyper_parameters": hparams,
    }
    ckpt.update(extra)
    return ckpt


@contextlib.contextmanager
def lightning_pickling(generation: str = "2.x"):
    """While the block runs, Lightning's pickled classes exist (as they would where it was saved)."""
    names = LIGHTNING_NAMES[generation]
    classes = {names["attribute_dict"]: _attribute_dict_class()}
    if "checkpoint_callback" in names:
        classes[names["checkpoint_callback"]] = type("ModelCheckpoint", (), {})
    with fake_modules(**classes):
        yield


def save_lightning_checkpoint(path, state_dict: dict, generation: str = "2.x", **extra):
    """Write ``lightning_checkpoint(...)`` to ``path`` as Lightning would (torch.save, zip format)."""
    with lightning_pickling(generation):
        torch.save(lightning_checkpoint(state_dict, generation, **extra), path)
    return path


class RunsCommand:
    """An object whose unpickling calls ``func(*args)`` (by default ``os.system(command)``)."""

    def __init__(self, command: str, func=os.system):
        self.command, self.func = command, func

    def __reduce__(self):
        return (self.func, (self.command,))


def touch_command(sentinel) -> str:
    """A shell command that creates ``sentinel`` (its existence proves the command ran)."""
    return f"touch '{sentinel}'"
