"""The inference form (BatchNorm folded, exportable log-Mel, per-class scores) and the ONNX export.

The inference form must give the training form's anomaly scores within 1e-3 for every model
variant, on the bundled real clips; an exported ONNX file must give the PyTorch scores and the
same DCASE score files through ``python -m asdlib score``.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import onnx
import pandas as pd
import pytest
import torch
from torch import nn

from asdlib.data.audio import load_clip
from asdlib.data.dataset import scan_dataset
from asdlib.deploy.export import ExportError, OnnxScorer, TorchScorer, export_onnx, load_scorer
from asdlib.nets.features import LogMel
from asdlib.deploy.inference import (SCORE_TOLERANCE, ExportableLogMel, class_scores, fold_batchnorm,
                              inference_form)
from asdlib.engine.evaluate import scoring_form
from asdlib.nets.inference import ENGINE_SCORE_TOLERANCE
from asdlib.nets.loss import anomaly_score
from asdlib.nets.model import build_model
from asdlib.paths import SAMPLE_DIR

import engine_helpers as H


def _randomise_batchnorm(net: nn.Module, seed: int = 0, small_variances: bool = False,
                         calibrate_on: torch.Tensor | None = None) -> nn.Module:
    """Trained-looking BatchNorm statistics, so that folding them is really exercised.

    The running means and variances are first calibrated on a batch of noise (every BatchNorm
    then normalises what reaches it, as after training, so the ReLUs are half open and the
    attention map follows the input instead of saturating to a constant), then the gains and
    shifts are drawn. ``small_variances`` shrinks each channel's variance by a factor of 1e-6 to
    1e-3 (log-uniform), as trained networks have in some channels, with the gain adjusted so that
    the channel's scale including ``eps`` is unchanged: there BatchNorm's ``eps`` (1e-5) is most
    of the denominator, so a fold that forgot it is off by up to ~30x and is caught; at
    calibrated variances it would not be.
    """
    g = torch.Generator().manual_seed(seed)
    norms = [m for m in net.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: one batch gives that batch's statistics
    wave = calibrate_on if calibrate_on is not None else 0.1 * torch.randn(4, net.config.num_samples, generator=g)
    with torch.no_grad():
        net.train()(wave)
        for m in norms:
            m.momentum = 0.1
            n = m.num_features
            c = 10 ** (-6 + 3 * torch.rand(n, generator=g)) if small_variances else torch.ones(n)
            var = m.running_var.clone()
            m.running_var.mul_(c)
            # the gain keeps each channel's eval-mode scale gain / sqrt(var + eps) as calibrated,
            # so the network stays alive; without eps that scale would be up to ~30x off
            m.weight.copy_((0.7 + 0.6 * torch.rand(n, generator=g))
                           * torch.sqrt((var * c + m.eps) / (var + m.eps)))
            m.bias.copy_(0.1 * torch.randn(n, generator=g))
        for m in net.modules():
            if isinstance(m, nn.PReLU):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5)
    return net.eval()


def _training_form_scores(net, wave: torch.Tensor) -> np.ndarray:
    """Per-class scores of the training form: ``loss.anomaly_score`` with the true class set to each k."""
    with torch.no_grad():
        emb = net(wave)
        return np.stack([anomaly_score(net.arcface, emb, torch.full((len(wave),), k)).numpy()
                         for k in range(net.config.num_classes)], axis=1)


@pytest.fixture(scope="module")
def real_clips() -> torch.Tensor:
    """Six bundled real DCASE clips (one per machine type), cut to 10 s."""
    table = scan_dataset(SAMPLE_DIR)
    picks = table.groupby("machine_type").head(1)
    return torch.from_numpy(np.stack([load_clip(p, 160_000) for p in picks["path"]]))


@pytest.mark.parametrize("kind", ["conv1d", "conv2d-grouped", "conv2d-no-bias"])
def test_fold_batchnorm_equals_conv_then_batchnorm(kind):
    torch.manual_seed(0)
    if kind == "conv1d":
        conv, bn, x = nn.Conv1d(1, 4, 9, stride=3, padding=4), nn.BatchNorm1d(4), torch.randn(2, 1, 50)
    elif kind == "conv2d-grouped":
        conv, bn, x = nn.Conv2d(6, 6, 3, padding=1, groups=6), nn.BatchNorm2d(6), torch.randn(2, 6, 9, 11)
    else:
        conv, bn, x = nn.Conv2d(3, 5, 1, bias=False), nn.BatchNorm2d(5), torch.randn(2, 3, 7, 7)
    _randomise_batchnorm(nn.Sequential(conv, bn), calibrate_on=x)
    folded = fold_batchnorm(conv, bn)
    with torch.no_grad():
        assert torch.allclose(folded(x), bn(conv(x)), atol=1e-5)
    assert folded is not conv and conv.weight.data_ptr() != folded.weight.data_ptr()


@pytest.mark.parametrize("kind", ["conv1d", "conv2d"])
def test_fold_batchnorm_keeps_eps_where_variances_are_small(kind):
    torch.manual_seed(0)
    conv, bn, x = ((nn.Conv1d(1, 8, 9, padding=4), nn.BatchNorm1d(8), torch.randn(2, 1, 40)) if kind == "conv1d"
                   else (nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), torch.randn(2, 3, 6, 6)))
    _randomise_batchnorm(nn.Sequential(conv, bn), small_variances=True, calibrate_on=x)
    folded = fold_batchnorm(conv, bn)
    with torch.no_grad():
        want, got = bn(conv(x)), folded(x)
        # what a fold without eps would give: off by sqrt(1 + eps / var) in every channel
        no_eps = nn.Sequential(conv, nn.Identity())(x)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        no_eps = ((no_eps - bn.running_mean.view(shape)) * (bn.weight / bn.running_var.sqrt()).view(shape)
                  + bn.bias.view(shape))
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())
    assert not torch.allclose(no_eps, want, rtol=1e-2, atol=1e-2 * want.abs().max().item())


def test_folding_leaves_no_batchnorm_after_a_conv():
    """Every Conv -> BatchNorm pair is folded into its conv: the folded MobileFaceNet and Wavegram
    hold no BatchNorm and no ``ChannelAffine`` (a separate affine gives the same numbers, so only
    the structure shows a pair left unfolded); only the attention's two BatchNorms, which follow a
    ReLU, stay as affines. Found by the mutation run (issue 21): with pairs left unfolded every
    score test passed."""
    from asdlib.nets.inference import ChannelAffine

    inf = inference_form(build_model().eval())

    def count(module, kind):
        return sum(isinstance(m, kind) for m in module.modules())

    assert count(inf, nn.modules.batchnorm._BatchNorm) == 0
    assert count(inf.classifier, ChannelAffine) == count(inf.wavegram, ChannelAffine) == 0
    assert count(inf.attention, ChannelAffine) == 2


def test_fold_batchnorm_refuses_mismatched_layers():
    with pytest.raises(ValueError, match="3 conv channels but 4"):
        fold_batchnorm(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(4))


def test_exportable_logmel_equals_torchaudio_on_real_clips(real_clips):
    ref = LogMel()
    ours = ExportableLogMel(ref)
    with torch.no_grad():
        a, b = ref(real_clips), ours(real_clips)
    assert a.shape == b.shape == (len(real_clips), 128, 313)
    # dB values of real clips: a float32 FFT written as two matrix products agrees to ~1e-3 dB
    assert (a - b).abs().max() < 5e-3


def test_exportable_logmel_follows_the_clip_length():
    ref = LogMel()
    wave = torch.randn(2, 8_000) * 0.1
    with torch.no_grad():
        assert torch.allclose(ExportableLogMel(ref)(wave), ref(wave), atol=5e-3)


def test_class_scores_column_k_is_the_anomaly_score_at_class_k():
    torch.manual_seed(1)
    net = build_model(clip_seconds=1.0).eval()
    emb = torch.randn(5, 128)
    head = net.arcface
    scores, cosine = class_scores(emb, nn.functional.normalize(head.weight), head.s, head.m)
    for k in (0, 7, 40):
        want = anomaly_score(head, emb, torch.full((5,), k))
        assert torch.allclose(scores[:, k], want, atol=1e-4)
    assert torch.allclose(cosine, head.cosine(emb), atol=1e-6)


def test_class_scores_where_the_margin_cannot_apply():
    """A cosine below cos(pi - m) (the angle plus the margin would pass pi) takes ArcFace's linear
    fallback, ``cos - sin(pi - m) m``: the column is still the anomaly score at that class. Found by
    the mutation run (issue 21): random embeddings never reach that region."""
    torch.manual_seed(1)
    head = build_model(clip_seconds=1.0).eval().arcface
    w = nn.functional.normalize(head.weight)
    emb = -w[[0, 7, 40]] + 0.05 * torch.randn(3, w.shape[1])  # nearly opposite classes 0, 7, 40
    scores, cosine = class_scores(emb, w, head.s, head.m)
    assert (cosine[[0, 1, 2], [0, 7, 40]] < np.cos(np.pi - head.m)).all()
    for k in (0, 7, 40):
        want = anomaly_score(head, emb, torch.full((3,), k))
        assert torch.allclose(scores[:, k], want, atol=1e-4)


def test_inference_form_defaults_and_what_it_keeps():
    """By default the form is the exportable one; it keeps the network's label map, and a peer is
    refused naming its kind."""
    from asdlib.nets.inference import InferenceNet

    net = build_model(clip_seconds=1.0).eval()
    net.label_map = "distinct"  # as engine.checkpoints.load_model sets it
    for form in (inference_form(net), InferenceNet(net)):
        assert isinstance(form.logmel, ExportableLogMel) and form.exportable is True
        assert form.label_map == "distinct"
    with pytest.raises(ValueError, match=r"a peer \(idnn\)"):
        inference_form(build_model(kind="idnn", clip_seconds=1.0))


VARIANTS = [dict(features=f, separable=s, attention=a, attention_activation=act)
            for f, s, a, act in itertools.product(("mel+wave", "mel", "wave"), (True, False),
                                                  (True, False), ("faithful", "fixed"))
            if a or act == "faithful"]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(map(str, v.values())))
def test_inference_form_equals_training_form_for_every_variant(variant):
    torch.manual_seed(0)
    net = _randomise_batchnorm(build_model(clip_seconds=1.0, **variant), small_variances=True)
    wave = 0.1 * torch.randn(3, 16_000, generator=torch.Generator().manual_seed(2))
    inf = inference_form(net)
    want = _training_form_scores(net, wave)
    with torch.no_grad():
        got, _ = inf(wave)
        emb = net(wave)
        assert torch.allclose(inf.embedding(wave), emb, rtol=1e-3, atol=1e-4 * emb.abs().max().item())
        # the engine's scoring form (training log-Mel, channels-last on the CPU): within 1e-4
        engine, cosine = scoring_form(net, "cpu")(wave)
    assert np.abs(got.numpy() - want).max() <= SCORE_TOLERANCE
    assert np.abs(engine.numpy() - want).max() <= ENGINE_SCORE_TOLERANCE
    assert torch.allclose(cosine, net.arcface.cosine(emb), atol=1e-5)
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in inf.modules())
    assert not hasattr(inf.classifier, "fc_out")


def test_inference_form_equals_training_form_with_small_variances():
    """Channels with running variances near BatchNorm's eps (as in trained networks) fold exactly too."""
    torch.manual_seed(0)
    net = _randomise_batchnorm(build_model(clip_seconds=1.0), seed=7, small_variances=True)
    wave = 0.1 * torch.randn(3, 16_000, generator=torch.Generator().manual_seed(2))
    inf = inference_form(net)
    with torch.no_grad():
        want, got = net(wave), inf.embedding(wave)
        assert torch.isfinite(want).all()
        assert torch.allclose(got, want, rtol=1e-3, atol=1e-4 * want.abs().max().item())
        scores, _ = inf(wave)
    assert np.abs(scores.numpy() - _training_form_scores(net, wave)).max() <= SCORE_TOLERANCE


@pytest.mark.parametrize("h", [64, 256])
def test_inference_form_on_real_clips_at_ten_seconds(real_clips, h):
    torch.manual_seed(3)
    net = _randomise_batchnorm(build_model(embedding_dim=h), seed=h, small_variances=True)
    with H.one_thread(), torch.no_grad():
        got, _ = inference_form(net)(real_clips)
        engine, _ = scoring_form(net, "cpu")(real_clips)
        want = _training_form_scores(net, real_clips)
    assert np.abs(got.numpy() - want).max() <= SCORE_TOLERANCE
    assert np.abs(engine.numpy() - want).max() <= ENGINE_SCORE_TOLERANCE


@pytest.mark.parametrize("exportable", [True, False])
def test_inference_form_is_built_on_the_model_device(exportable):
    """Every parameter and buffer of the inference form sits on the network's device (the audit's
    ``meta`` check: a CUDA network must not get a CPU convolution or CPU DFT/filterbank buffers)."""
    net = build_model(clip_seconds=1.0).to("meta").eval()
    inf = inference_form(net, exportable=exportable)
    tensors = dict(inf.named_parameters()) | dict(inf.named_buffers())
    assert len(tensors) > 50
    assert [k for k, t in tensors.items() if t.device.type != "meta"] == []
    assert exportable == isinstance(inf.logmel, ExportableLogMel)
    with torch.no_grad():  # and it runs there: shapes only
        scores, cosine = inf(torch.zeros(2, 16_000, device="meta"))
    assert scores.device.type == "meta" and tuple(scores.shape) == tuple(cosine.shape) == (2, 41)


def test_torch_scorer_feeds_the_model_device_and_returns_numpy(monkeypatch):
    """``TorchScorer`` moves the waveforms to the network's device and its results to the CPU."""
    net = _randomise_batchnorm(build_model(clip_seconds=0.5), seed=3)
    scorer = TorchScorer(net, threads=1)
    seen = []
    forward = type(scorer.net).forward

    def spy(self, wave, logmel=None):
        seen.append(wave.device)
        return forward(self, wave, logmel)

    monkeypatch.setattr(type(scorer.net), "forward", spy)
    wave = 0.1 * np.random.default_rng(0).standard_normal((2, 8_000)).astype(np.float32)
    scores, cosine = scorer.scores(wave)
    assert seen == [scorer.net.class_weight.device]
    assert isinstance(scores, np.ndarray) and scores.shape == cosine.shape == (2, 41)
    assert np.abs(scores - _training_form_scores(net, torch.from_numpy(wave))).max() <= SCORE_TOLERANCE
    # on a device without values the scorer puts the clips there (no device-mismatch error) and
    # fails only when copying the results to the CPU
    meta = TorchScorer(build_model(clip_seconds=0.5).to("meta"), threads=1)
    with pytest.raises(NotImplementedError, match="meta"):
        meta.scores(wave)


# --------------------------------------------------------------------------- ONNX export

@pytest.fixture(scope="module")
def exported(reference_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    with H.one_thread():
        export_onnx(reference_run / "checkpoints" / "last.pt", out)
    return out


def test_export_writes_metadata(exported, reference_run):
    from asdlib.data.download import file_digest

    meta = {p.key: p.value for p in onnx.load(str(exported)).metadata_props}
    assert meta["asdlib_format"] == "asdlib-onnx-1"
    assert meta["label_map"] == "paper"
    assert (meta["sample_rate"], meta["num_samples"], meta["num_classes"]) == ("16000", "8000", "41")
    assert float(meta["clip_seconds"]) == H.CLIP_SECONDS
    assert json.loads(meta["model_config"])["features"] == "mel+wave"
    assert meta["source_sha256"] == file_digest(reference_run / "checkpoints" / "last.pt", "sha256")
    assert "thresholds" not in meta


def test_the_exported_graph_keeps_onnx_runtimes_blocked_layout(exported):
    """PReLU and the unfoldable BatchNorms are exported as ops that ONNX Runtime's NCHWc layout
    runs (Mul, Relu, Add of two maps; a depthwise Conv), not as Max or a broadcast Add, which
    would convert the map out of that layout and back each time (REPORT.md section 7)."""
    graph = onnx.load(str(exported)).graph
    ops = [n.op_type for n in graph.node]
    assert "Max" not in ops and "PRelu" not in ops, sorted(set(ops))
    consts = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    consts.update({n.output[0]: onnx.numpy_helper.to_array(n.attribute[0].t)
                   for n in graph.node if n.op_type == "Constant" and n.attribute and n.attribute[0].t.dims})
    per_channel_adds = [n.name for n in graph.node if n.op_type == "Add" and any(
        i in consts and consts[i].ndim == 4 and consts[i].shape[1] > 1 for i in n.input)]
    assert per_channel_adds == []


@pytest.mark.parametrize("slope", [0.0, 0.25, 1.0])
def test_the_export_forms_of_prelu_and_the_affine_equal_their_pytorch_forms(monkeypatch, slope):
    from asdlib.nets.inference import ChannelAffine, PReLUAsMax

    torch.manual_seed(0)
    prelu = nn.PReLU(6, init=slope)
    with torch.no_grad():
        prelu.weight[1] = 0.5 * slope + 0.1 * (slope < 1)   # slopes differ across channels
    bn = nn.BatchNorm2d(6).eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(6))
        bn.running_var.copy_(torch.rand(6) + 0.1)
        bn.weight.copy_(torch.randn(6))
        bn.bias.copy_(torch.randn(6))
    x = torch.randn(2, 6, 5, 7) * 3
    forms = {}
    for exporting in (False, True):
        monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: exporting)
        with torch.no_grad():
            forms[exporting] = (PReLUAsMax(prelu)(x), ChannelAffine(bn)(x))
    with torch.no_grad():
        assert torch.allclose(forms[True][0], prelu(x), atol=1e-6)
        assert torch.allclose(forms[False][0], prelu(x), atol=0)
        assert torch.allclose(forms[True][1], bn(x), atol=1e-5) and torch.allclose(forms[False][1], bn(x), atol=1e-5)


def test_onnx_scores_equal_pytorch_on_real_and_synthetic_clips(exported, reference_run, tiny_data):
    onnx_scorer = load_scorer(exported, threads=1)
    torch_scorer = load_scorer(reference_run / "checkpoints" / "last.pt", threads=1)
    assert isinstance(onnx_scorer, OnnxScorer) and isinstance(torch_scorer, TorchScorer)
    table = pd.concat([scan_dataset(tiny_data), scan_dataset(SAMPLE_DIR)])
    wave = np.stack([load_clip(p, onnx_scorer.num_samples) for p in table["path"]]).astype(np.float32)
    a, cos_a = onnx_scorer.scores(wave)
    b, cos_b = torch_scorer.scores(wave)
    assert a.shape == b.shape == (len(table), 41)
    assert np.abs(a - b).max() <= SCORE_TOLERANCE
    assert np.abs(cos_a - cos_b).max() <= 1e-4


def test_score_command_accepts_onnx_and_writes_the_same_files(exported, reference_run, tiny_data,
                                                             tmp_path, data_dir, monkeypatch):
    """``score`` through ``asdlib.cli.main`` in this process (test_export_command_and_its_errors
    starts the real one)."""
    from test_cli import cli

    monkeypatch.setenv("ASD_DATA_DIR", str(data_dir))
    outs = {}
    for name, model in (("pt", reference_run / "checkpoints" / "last.pt"), ("onnx", exported)):
        outs[name] = tmp_path / name
        proc = cli("score", "--checkpoint", model, "--data-root", tiny_data, "--out", outs[name],
                   "--batch-size", 8)
        assert proc.returncode == 0, proc.stderr[-2000:]
    files = sorted(p.name for p in (outs["pt"] / "scores").iterdir())
    assert files == sorted(p.name for p in (outs["onnx"] / "scores").iterdir()) and files
    for f in files:
        a = pd.read_csv(outs["pt"] / "scores" / f, header=None)
        b = pd.read_csv(outs["onnx"] / "scores" / f, header=None)
        assert list(a[0]) == list(b[0])
        assert np.abs(a[1].to_numpy() - b[1].to_numpy()).max() <= SCORE_TOLERANCE


@pytest.mark.slow
def test_export_command_and_its_errors(reference_run, tmp_path, data_dir, monkeypatch):
    """The command in a real process; its two errors through ``asdlib.cli.main`` in this one."""
    from test_cli import asdlib, cli

    ckpt = reference_run / "checkpoints" / "last.pt"
    proc = asdlib("export", "--checkpoint", ckpt, "--out", tmp_path / "m.onnx", data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "exported" in proc.stdout and (tmp_path / "m.onnx").is_file()
    monkeypatch.setenv("ASD_DATA_DIR", str(data_dir))
    proc = cli("export", "--checkpoint", ckpt, "--out", tmp_path / "m.bin")
    assert proc.returncode == 2 and "must end in .onnx" in proc.stderr
    proc = cli("export", "--checkpoint", tmp_path / "missing.pt", "--out", tmp_path / "x.onnx")
    assert proc.returncode == 2 and "missing.pt" in proc.stderr
    assert not (tmp_path / "x.onnx").exists()


def test_failed_export_keeps_the_earlier_file(reference_run, tmp_path, monkeypatch):
    import asdlib.deploy.inference as inference

    out = tmp_path / "model.onnx"
    out.write_bytes(b"earlier export")
    monkeypatch.setattr(inference, "SCORE_TOLERANCE", -1.0)  # no export can pass this check
    with pytest.raises(ExportError, match="differ from PyTorch"):
        export_onnx(reference_run / "checkpoints" / "last.pt", out)
    assert out.read_bytes() == b"earlier export"
    assert not list(tmp_path.glob("*.part"))


def test_damaged_or_foreign_onnx_is_named(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07 not an onnx model")
    with pytest.raises(ExportError, match="broken.onnx"):
        OnnxScorer(bad)
    foreign = tmp_path / "foreign.onnx"
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    onnx.save(onnx.helper.make_model(graph, ir_version=10,
                                      opset_imports=[onnx.helper.make_opsetid("", 17)]), str(foreign))
    with pytest.raises(ExportError, match="not a model exported by"):
        OnnxScorer(foreign)


def test_wrong_clip_length_is_refused(exported):
    with pytest.raises(ValueError, match=r"shape \(batch, 8000\)"):
        OnnxScorer(exported, threads=1).scores(np.zeros((1, 7000), dtype=np.float32))


def test_authors_checkpoint_exports(tmp_path):
    import checkpoint_helpers as CH
    from asdlib.nets.authors_network import to_authors_state_dict

    net = _randomise_batchnorm(build_model(), seed=5)
    ckpt = tmp_path / "authors.ckpt"
    CH.save_lightning_checkpoint(ckpt, to_authors_state_dict(net))
    with H.one_thread():
        out = export_onnx(ckpt, tmp_path / "authors.onnx")
    scorer = OnnxScorer(out, threads=1)
    assert scorer.label_map == "paper" and scorer.num_samples == 160_000
    wave = 0.1 * np.random.default_rng(0).standard_normal((1, 160_000)).astype(np.float32)
    got, _ = scorer.scores(wave)
    assert np.abs(got - _training_form_scores(net, torch.from_numpy(wave))).max() <= SCORE_TOLERANCE


# --------------------------------------------------------------------------- the speed baseline

def test_authors_network_is_independent_and_scores_as_ours(real_clips):
    import asdlib.nets.authors_network as an
    from asdlib.nets import layers, loss, mobilefacenet

    torch.manual_seed(4)
    net = _randomise_batchnorm(build_model())
    authors = an.authors_model_from(net)
    ours_classes = {layers.SeparableConv1d, layers.SeparableConv2d, mobilefacenet.MobileFaceNet,
                    mobilefacenet.Bottleneck, mobilefacenet.ConvBlock, loss.ArcFace}
    assert not any(type(m) in ours_classes for m in authors.modules())
    y = torch.arange(len(real_clips)) * 6 % 41
    with H.one_thread(), torch.no_grad():
        theirs = authors.anomaly_score(real_clips, y)
        ours = anomaly_score(net.arcface, net(real_clips), y)
    assert torch.allclose(theirs, ours, atol=1e-4)
    with pytest.raises(ValueError, match="only the proposed"):
        an.authors_model_from(build_model(attention=False))


def test_prelu_slopes_outside_zero_one_keep_the_prelu():
    """``max(x, a x)`` equals PReLU only for slopes in [0, 1]; a network with slopes of -0.3 and
    1.5 (a trained PReLU may learn them) keeps PReLU there and still scores as the training form."""
    from asdlib.nets.inference import PReLUAsMax

    assert PReLUAsMax.applies(nn.PReLU(4, init=0.0)) and PReLUAsMax.applies(nn.PReLU(4, init=1.0))
    assert not PReLUAsMax.applies(nn.PReLU(4, init=1.5)) and not PReLUAsMax.applies(nn.PReLU(4, init=-0.3))
    torch.manual_seed(0)
    net = _randomise_batchnorm(build_model(clip_seconds=1.0), seed=11)
    prelus = [m for m in net.modules() if isinstance(m, nn.PReLU)]
    with torch.no_grad():
        for k, m in enumerate(prelus):
            m.weight.fill_((-0.3, 1.5, 0.25)[k % 3])
    wave = 0.1 * torch.randn(3, 16_000, generator=torch.Generator().manual_seed(2))
    inf = inference_form(net)
    kept = [m for m in inf.modules() if isinstance(m, nn.PReLU)]
    assert len(kept) == sum(1 for k in range(len(prelus)) if k % 3 != 2) > 0
    # copies, not the trained network's own parameters
    assert not {m.weight.data_ptr() for m in kept} & {m.weight.data_ptr() for m in prelus}
    with torch.no_grad():
        got, _ = inf(wave)
        engine, _ = scoring_form(net, "cpu")(wave)
    want = _training_form_scores(net, wave)
    assert np.abs(got.numpy() - want).max() <= SCORE_TOLERANCE
    assert np.abs(engine.numpy() - want).max() <= ENGINE_SCORE_TOLERANCE


@pytest.mark.parametrize("separable", [True, False])
def test_inference_form_owns_its_weights(separable):
    """The inference form is a copy: changing the trained network afterwards (training on, loading
    the next checkpoint into it) leaves the form's scores as they were."""
    torch.manual_seed(0)
    net = _randomise_batchnorm(build_model(clip_seconds=1.0, separable=separable), seed=4)
    wave = 0.1 * torch.randn(2, 16_000, generator=torch.Generator().manual_seed(2))
    forms = (inference_form(net), scoring_form(net, "cpu"))
    with torch.no_grad():
        before = [form(wave)[0].clone() for form in forms]
        for p in net.parameters():
            p.mul_(0.5)
        after = [form(wave)[0] for form in forms]
    assert all(torch.equal(a, b) for a, b in zip(before, after))
