"""The peers (issue 8): parameter counts, shapes at 1 s and 10 s, per-clip scores, Noisy-ArcMix, STgram-MFN's weights."""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import json
import pkgutil
import re
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
import torchaudio

import asdlib.nets.peers
from asdlib.engine.checkpoints import CheckpointError, UnsafeCheckpointError
from asdlib.nets.features import LogMel
from asdlib.nets.mobilefacenet import BOTTLENECK_SETTINGS, MobileFaceNet
from asdlib.nets.peers import (IDNN, DCASEAutoencoder, PeerLogMel, STgramMFN, TASTgramMFN,
                          TemporalAttentionGram, frame_windows)
from asdlib.study import stgram_weights as sw
from asdlib.nets.peers.tastgram import arcface_cross_entropy


def count(m) -> int:
    return sum(p.numel() for p in m.parameters())


@functools.lru_cache(maxsize=None)
def model(name: str, seconds: float = 10.0):
    torch.manual_seed(0)
    builders = {
        "stgram-published": lambda: STgramMFN("published", clip_seconds=seconds),
        "stgram-later": lambda: STgramMFN("later", clip_seconds=seconds),
        "tastgram": lambda: TASTgramMFN(clip_seconds=seconds),
        "idnn": lambda: IDNN(),
        "dcase-ae": lambda: DCASEAutoencoder(),
    }
    return builders[name]().eval()


def wave(batch: int, seconds: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, int(16000 * seconds), generator=g)


# --------------------------------------------------------------------------- parameter counts

def test_stgram_parameter_counts_in_both_mobilefacenet_settings():
    pub, later = model("stgram-published"), model("stgram-later")
    assert count(pub.tgram) == count(later.tgram) == 280_406
    assert count(pub.arcface) == count(later.arcface) == 5_248
    assert count(pub.classifier) == 1_064_681
    assert count(later.classifier) == 875_625
    assert count(pub) == 1_350_335
    assert count(later) == 1_161_279
    assert count(pub.logmel) == 0  # the log-Mel holds buffers only


def test_tastgram_idnn_and_autoencoder_parameter_counts():
    assert count(model("tastgram")) == 1_161_855
    assert count(model("tastgram").temporal_attention) == 0
    # IDNN: 512 -> 64 -> 32 -> 16 -> 32 -> 64 -> 128 (the paper's "46 k", see asdlib.nets.peers.idnn)
    assert count(model("idnn")) == 46_416
    ae = model("dcase-ae")
    assert sum(p.numel() for p in ae.parameters() if p.requires_grad) == 267_928
    moving = sum(b.numel() for n, b in ae.named_buffers() if "running_" in n)
    assert 267_928 + moving == 269_992  # Keras' total, moving statistics included


def test_mobilefacenet_generalisation_keeps_the_default():
    torch.manual_seed(0)
    default = MobileFaceNet()
    torch.manual_seed(0)
    explicit = MobileFaceNet(bottleneck_setting=BOTTLENECK_SETTINGS)
    a, b = default.state_dict(), explicit.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert default.global_kernel == (8, 20)
    assert model("stgram-published").classifier.global_kernel == (8, 20)
    assert STgramMFN("published", clip_seconds=1.0).classifier.global_kernel == (8, 2)


# --------------------------------------------------------------------------- shapes and scores

@pytest.mark.parametrize("seconds, frames", [(1.0, 32), (10.0, 313)])
def test_shapes(seconds, frames):
    x = wave(2, seconds)
    for name in ("stgram-published", "stgram-later", "tastgram"):
        m = model(name, seconds)
        assert m.tgram.encoder[0][0].normalized_shape == (frames,)
        with torch.no_grad():
            feats = m.features(x)
            emb = m(x)
        assert feats.shape == (2, 2 if name.startswith("stgram") else 3, 128, frames)
        assert emb.shape == (2, 128)
    with torch.no_grad():
        y, target = model("dcase-ae")(x)
        assert y.shape == target.shape == (2, frames - 4, 640)
        pred, centre = model("idnn")(x)
        assert pred.shape == centre.shape == (2, frames - 4, 128)


def test_anomaly_scores_are_finite_and_per_clip():
    x = wave(3, 1.0, seed=1)
    cls = torch.tensor([0, 7, 40])
    for name in ("stgram-published", "stgram-later", "tastgram", "idnn", "dcase-ae"):
        m = model(name, 1.0)
        with torch.no_grad():
            s = m.anomaly_score(x, cls)
        assert s.shape == (3,) and torch.isfinite(s).all(), name
        # per clip: a clip's score does not depend on its batch neighbours
        with torch.no_grad():
            alone = m.anomaly_score(x[1:2], cls[1:2])
        assert torch.allclose(alone, s[1:2], rtol=1e-4, atol=1e-5), name
    for name in ("idnn", "dcase-ae"):  # one model per machine type: no class needed
        with torch.no_grad():
            assert torch.equal(model(name, 1.0).anomaly_score(x, None), model(name, 1.0).anomaly_score(x, cls))
    for name in ("stgram-later", "tastgram"):
        with pytest.raises(ValueError, match="class_index"):
            model(name, 1.0).anomaly_score(x, None)


def test_training_losses_backpropagate():
    x, y = wave(4, 1.0, seed=2), torch.tensor([0, 1, 2, 3])
    for m in (STgramMFN("later", clip_seconds=1.0), TASTgramMFN(clip_seconds=1.0), IDNN(),
              DCASEAutoencoder()):
        m.train()
        loss = (m.training_loss(x, y, rng=np.random.default_rng(0))
                if isinstance(m, TASTgramMFN) else m.training_loss(x, y))
        loss.backward()
        assert loss.ndim == 0 and torch.isfinite(loss)
        no_grad = [n for n, p in m.named_parameters() if p.grad is None]
        assert no_grad in ([], ["classifier.fc_out.weight", "classifier.fc_out.bias"]), no_grad  # fc_out: built, unused


# --------------------------------------------------------------------------- Noisy-ArcMix

def test_noisy_arcmix_with_lambda_one_is_the_plain_arcface_cross_entropy():
    m = model("tastgram", 1.0)
    x, y = wave(4, 1.0, seed=3), torch.tensor([3, 1, 4, 1])
    with torch.no_grad():
        mixed = m.training_loss(x, y, lam=1.0, generator=torch.Generator().manual_seed(5))
        plain = arcface_cross_entropy(m, x, y)
    assert torch.allclose(mixed, plain, rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # a real mix differs
        assert not torch.allclose(m.training_loss(x, y, lam=0.3, generator=torch.Generator().manual_seed(5)), plain)


def test_noisy_arcmix_mixes_waveform_and_log_mel_alike():
    m = model("tastgram", 1.0)
    assert m.alpha == 0.5
    x, y = wave(4, 1.0, seed=4), torch.tensor([0, 1, 2, 3])
    mixed_wave, mixed_mel, y_a, y_b, lam = m.mix(x, y, rng=np.random.default_rng(7),
                                                 generator=torch.Generator().manual_seed(9))
    assert lam == pytest.approx(float(np.random.default_rng(7).beta(0.5, 0.5)))
    perm = torch.randperm(4, generator=torch.Generator().manual_seed(9))
    mel = m.log_mel(x)
    assert torch.allclose(mixed_wave, lam * x + (1 - lam) * x[perm], atol=1e-6)
    assert torch.allclose(mixed_mel, lam * mel + (1 - lam) * mel[perm], atol=1e-4)
    assert torch.equal(y_a, y) and torch.equal(y_b, y[perm])
    assert not torch.allclose(mixed_mel, m.log_mel(mixed_wave), atol=1e-2)  # not recomputed


# --------------------------------------------------------------------------- front ends

def test_log_mel_styles():
    x = wave(2, 1.0, seed=5)
    assert torch.equal(PeerLogMel("asdlib")(x), LogMel()(x))
    own = torchaudio.transforms.AmplitudeToDB(stype="power")(
        torchaudio.transforms.MelSpectrogram(16000, n_fft=1024, hop_length=512, n_mels=128)(x))
    assert torch.allclose(PeerLogMel("stgram")(x), own, atol=1e-4)
    for style in ("noisy_arcmix", "dcase2020"):
        assert PeerLogMel(style)(x).shape == (2, 128, 32)
    with pytest.raises(ValueError, match="log-Mel style"):
        PeerLogMel("nope")


def test_frame_windows_and_idnn_context():
    mel = torch.arange(2 * 3 * 7, dtype=torch.float32).reshape(2, 3, 7)  # batch 2, 3 mels, 7 frames
    w = frame_windows(mel, 5)
    assert w.shape == (2, 3, 15)
    for t in range(5):  # the DCASE baseline: vector[:, n_mels*t : n_mels*(t+1)] = frame w + t
        assert torch.equal(w[:, :, 3 * t:3 * (t + 1)], mel[:, :, t:t + 3].transpose(1, 2))
    idnn = model("idnn")
    x = wave(1, 1.0, seed=6)
    context, centre = idnn.split(x)
    logmel = idnn.logmel(x)
    assert torch.equal(centre[0, 4], logmel[0, :, 6])
    assert torch.equal(context[0, 4], torch.cat([logmel[0, :, k] for k in (4, 5, 7, 8)]))


def test_temporal_attention_gram():
    mel = torch.randn(2, 128, 32)
    w = torch.sigmoid(mel.max(dim=1).values + mel.mean(dim=1))
    assert torch.allclose(TemporalAttentionGram()(mel), w[:, None, :] * mel)


# --------------------------------------------------------------------------- STgram-MFN weights

def _dtype(name):
    return getattr(torch, name)


def _their_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Exactly the keys, shapes and dtypes of the TSV (their code's state_dict), random values."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for row in sw.stgram_key_table():
        if row["dtype"] == "int64":
            out[row["key"]] = torch.tensor(77, dtype=torch.int64)
        elif row["key"].endswith("running_var"):
            out[row["key"]] = 0.5 + torch.rand(row["shape"], generator=g)
        else:
            out[row["key"]] = 0.05 * torch.randn(row["shape"], generator=g)
    return out


def test_key_table_maps_onto_our_published_model_exactly():
    table = sw.stgram_key_table()
    ours = model("stgram-published").state_dict()
    mapped = {r["our_key"]: r for r in table}
    assert len(table) == len(mapped) == 346 and None not in mapped
    assert set(ours) - set(mapped) == {"logmel.mel.spectrogram.window", "logmel.mel.mel_scale.fb"}
    for k, r in mapped.items():
        assert tuple(ours[k].shape) == r["shape"] and ours[k].dtype == _dtype(r["dtype"]), k
        assert sw.stgram_key(k) == r["key"]
    assert sum(int(np.prod(r["shape"])) for r in table
               if r["dtype"] == "float32" and "running_" not in r["key"]) == 1_350_335


def test_released_layouts_load_strictly(tmp_path):
    sd = _their_state_dict()
    path = tmp_path / "best_checkpoint.pth.tar"
    torch.save({"epoch": 290, "optimizer": None, "model": sd}, path)  # net.py-era run.py
    m = sw.load_stgram_weights(path)
    assert not m.training and m.checkpoint_meta["epoch"] == 290
    assert torch.equal(m.classifier.blocks[7].conv[3].weight, sd["mobilefacenet.blocks.7.conv.3.weight"])
    assert torch.equal(m.tgram.encoder[2][0].bias, sd["tgramnet.conv_encoder.2.0.bias"])
    assert torch.equal(m.arcface.weight, sd["arcface.weight"])
    fresh = STgramMFN("published")
    assert torch.equal(m.logmel.mel.mel_scale.fb, fresh.logmel.mel.mel_scale.fb)
    with torch.no_grad():
        s = m.anomaly_score(wave(1, 10.0), torch.tensor([3]))
    assert s.shape == (1,) and torch.isfinite(s).all()
    # model.py era: DataParallel-prefixed classifier and ArcFace saved apart
    clf = {"module." + (k if k.startswith("tgramnet.") else k[len("mobilefacenet."):]): v
           for k, v in sd.items() if not k.startswith("arcface.")}
    legacy = tmp_path / "checkpoint_best.pth.tar"
    torch.save({"clf_state_dict": clf, "arcface_state_dict": {"module.weight": sd["arcface.weight"]}}, legacy)
    m2 = sw.load_stgram_weights(legacy)
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values()))
    # a state_dict in memory, too
    assert torch.equal(sw.load_stgram_weights(sd).arcface.weight, sd["arcface.weight"])


def test_released_class_order_is_the_2022_codes():
    """ID_factor fan 0, pump 1, slider 2, valve 3, ToyCar 4, ToyConveyor 5; Toy IDs counted from 01."""
    from asdlib.data.dcase import ALL_MACHINES

    assert sw.released_class_index("fan", "00") == 0 and sw.released_class_index("fan", "06") == 6
    assert sw.released_class_index("pump", "00") == 7 and sw.released_class_index("slider", "05") == 19
    assert sw.released_class_index("valve", "00") == 21 and sw.released_class_index("valve", "06") == 27
    assert sw.released_class_index("ToyCar", "01") == 28 and sw.released_class_index("ToyCar", "07") == 34
    assert sw.released_class_index("ToyConveyor", "01") == 35 and sw.released_class_index("ToyConveyor", "06") == 40
    assert sorted(sw.released_row_order()) == list(range(41))
    assert sw.released_row_order() != list(range(41))  # not our distinct order: valve and the Toys move
    assert [sw.released_row_order()[i] for i, m in enumerate(ALL_MACHINES) if m[0] == "fan"] == list(range(7))
    with pytest.raises(ValueError, match="id_09"):
        sw.released_class_index("fan", "09")


def _released_file(sd, path, duplicate=None):
    clf = dict(sd)
    clf[sw.DUPLICATE_ARCFACE_KEY] = sd["arcface.weight"].clone() if duplicate is None else duplicate
    optimizer = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2)}},
                 "param_groups": [{"lr": 1e-4, "params": [0]}]}
    torch.save({"epoch": 300, "clf_state_dict": clf, "optimizer": optimizer}, path)
    return path


def test_the_released_file_layout_loads_strictly_in_its_class_order(tmp_path):
    """October 2022: {'epoch', 'clf_state_dict' (346 names + a duplicate ArcFace weight), 'optimizer'}."""
    from asdlib.data.dcase import ALL_MACHINES

    sd = _their_state_dict(seed=4)
    m = sw.load_stgram_weights(_released_file(sd, tmp_path / "stgram.pth"))
    assert m.checkpoint_meta["class_order"] == "released" and m.checkpoint_meta["epoch"] == 300
    for c, (mt, mid) in enumerate(ALL_MACHINES):  # our row c holds their row of the same machine
        assert torch.equal(m.arcface.weight[c], sd["arcface.weight"][sw.released_class_index(mt, mid)]), (mt, mid)
    assert torch.equal(m.tgram.extractor.weight, sd["tgramnet.conv_extrctor.weight"])
    # the same weights in the later layout ('model', our order): every clip scores the same when
    # it is asked at the row the released code would use
    plain = sw.load_stgram_weights(sd)
    x = wave(3, 10.0, seed=5)
    for mt, mid in (("valve", "02"), ("ToyCar", "07"), ("ToyConveyor", "01"), ("pump", "05")):
        ours = torch.tensor([ALL_MACHINES.index((mt, mid))] * 3)
        theirs = torch.tensor([sw.released_class_index(mt, mid)] * 3)
        with torch.no_grad():
            assert torch.allclose(m.anomaly_score(x, ours), plain.anomaly_score(x, theirs), atol=1e-5), (mt, mid)
    bad = sd["arcface.weight"].clone()
    bad[0, 0] += 1.0
    with pytest.raises(CheckpointError, match="differs from arcface.weight"):
        sw.load_stgram_weights(_released_file(sd, tmp_path / "bad.pth", duplicate=bad))


def test_released_weights_score_through_the_engine(tmp_path):
    """`.config` is set, so score_clips (the `score` path) scores the loaded weights like a run of ours."""
    import pandas as pd
    import soundfile as sf

    from asdlib.data.dcase import class_index
    from asdlib.engine.evaluate import score_clips

    m = sw.load_stgram_weights(_released_file(_their_state_dict(seed=6), tmp_path / "w.pth"))
    assert m.config.kind == "stgram_mfn" and m.config.num_samples == m.num_samples == 160_000
    rows = []
    for k, (mt, mid) in enumerate((("fan", "00"), ("ToyCar", "05"))):
        path = tmp_path / f"normal_id_{mid}_{k:08d}.wav"
        sf.write(path, wave(1, 10.0, seed=10 + k)[0].numpy(), 16_000, subtype="PCM_16")
        rows.append({"path": str(path), "machine_type": mt, "machine_id": mid,
                     "class_index": class_index(mt, mid, "distinct"), "anomaly": 0})
    scored = score_clips(m, pd.DataFrame(rows), progress=False)
    assert np.isfinite(scored["score"]).all() and len(scored) == 2


def test_wrong_shape_missing_and_unexpected_keys_are_named(tmp_path):
    sd = _their_state_dict()
    sd["mobilefacenet.linear7.conv.weight"] = torch.zeros(512, 1, 4, 10)
    path = tmp_path / "bad.pth.tar"
    torch.save({"model": sd}, path)
    with pytest.raises(CheckpointError, match=r"bad\.pth\.tar.*\n.*wrong shape.*linear7\.conv\.weight: "
                                              r"expected 512x1x8x20, got 512x1x4x10") as e:
        sw.load_stgram_weights(path)
    assert "missing key" not in str(e.value)
    sd = _their_state_dict()
    del sd["tgramnet.conv_encoder.1.2.weight"]
    sd["mobilefacenet.extra.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError, match=r"missing key\(s\) \(1\): tgramnet\.conv_encoder\.1\.2\.weight"
                                              r"(.|\n)*unexpected key\(s\) \(1\): mobilefacenet\.extra\.weight"):
        sw.load_stgram_weights(sd)
    # the published weights do not fit the later MobileFaceNet setting, and say so
    with pytest.raises(CheckpointError, match="later MobileFaceNet setting"):
        sw.load_stgram_weights(_their_state_dict(), setting="later")


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_unsafe_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": _their_state_dict(), "extra": Evil()}, path)
    with pytest.raises(UnsafeCheckpointError, match=r"evil\.pth.*print"):
        sw.load_stgram_weights(path)
    page = tmp_path / "page.pth"
    page.write_text("<html>not found</html>")
    with pytest.raises(CheckpointError, match=r"page\.pth.*HTML"):
        sw.load_stgram_weights(page)
    with pytest.raises(FileNotFoundError, match="nothere"):
        sw.load_stgram_weights(tmp_path / "nothere.pth")
    with pytest.raises(CheckpointError, match="expected an STgram-MFN checkpoint"):
        sw.load_stgram_weights({"epoch": 3})


def _zenodo(tmp_path, base_url: str, name: str, payload: bytes, md5: str | None = None) -> str:
    """A fake Zenodo record: API JSON + file under ``tmp_path / 'served'``; returns the API URL."""
    served = tmp_path / "served"
    served.mkdir(exist_ok=True)
    (served / name).write_bytes(payload)
    md5 = md5 or hashlib.md5(payload).hexdigest()
    api = {"id": 7194640, "files": [
        {"key": "README.txt", "size": 3, "checksum": "md5:0", "links": {"self": base_url + "/README.txt"}},
        {"key": name, "size": len(payload), "checksum": f"md5:{md5}", "links": {"self": f"{base_url}/{name}"}},
    ]}
    (served / "record.json").write_text(json.dumps(api))
    return base_url + "/record.json"


def test_fetch_records_then_verifies(tmp_path):
    download = pytest.importorskip("asdlib.data.download")
    buf = tmp_path / "w.pth.tar"
    torch.save({"model": _their_state_dict()}, buf)
    base = (tmp_path / "served").resolve().as_uri()
    api = _zenodo(tmp_path, base, "best_checkpoint.pth.tar", buf.read_bytes())
    dest = tmp_path / "data"
    path = sw.fetch_stgram_weights(dest, api_url=api, progress=False)
    assert path == dest / "best_checkpoint.pth.tar"
    record = json.loads((dest / sw.RECORD_NAME).read_text())
    assert record["size"] == buf.stat().st_size and len(record["sha256"]) == 64
    assert record["file"] == path.name and record["url"].endswith(path.name)
    assert sw.fetch_stgram_weights(dest, api_url="file:///nowhere.json", progress=False) == path  # record used
    assert count(sw.load_stgram_weights(path)) == 1_350_335
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(CheckpointError, match="differ from the record"):
        sw.fetch_stgram_weights(dest, progress=False)
    # a download that does not match the record's published MD5 is removed
    bad = _zenodo(tmp_path, base, "x.pth", b"payload", md5="0" * 32)
    with pytest.raises(download.DownloadError, match="checksum mismatch"):
        sw.fetch_stgram_weights(tmp_path / "d2", api_url=bad, progress=False)
    assert not (tmp_path / "d2" / "x.pth").exists()
    with pytest.raises(download.DownloadError, match="could not read the Zenodo record"):
        sw.fetch_stgram_weights(tmp_path / "d3", api_url=(tmp_path / "none.json").as_uri(), progress=False)


def test_fetch_over_http_and_from_a_zip(tmp_path):
    buf = tmp_path / "w.pth.tar"
    torch.save({"model": _their_state_dict()}, buf)
    zpath = tmp_path / "z.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(buf, "runs/STgram-MFN/model/best_checkpoint.pth.tar")
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(type("Quiet", (SimpleHTTPRequestHandler,),
                                     {"log_message": lambda *a: None}), directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        api = _zenodo(tmp_path, base, "STgram-MFN.zip", zpath.read_bytes())
        path = sw.fetch_stgram_weights(tmp_path / "data", api_url=api, progress=False)
        assert path.name == "best_checkpoint.pth.tar" and path.read_bytes() == buf.read_bytes()
        # several candidate files: the caller names one
        (served / "other.pth").write_bytes(b"1")
        rec = json.loads((served / "record.json").read_text())
        rec["files"].append({"key": "other.pth", "checksum": "md5:" + hashlib.md5(b"1").hexdigest(),
                             "links": {"self": base + "/other.pth"}})
        (served / "record.json").write_text(json.dumps(rec))
        with pytest.raises(CheckpointError, match="pass filename="):
            sw.fetch_stgram_weights(tmp_path / "d4", api_url=api, progress=False)
        assert sw.fetch_stgram_weights(tmp_path / "d4", api_url=api, filename="other.pth",
                                       progress=False).read_bytes() == b"1"
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- conventions

def test_peers_docstrings_name_notebook_07():
    pattern = re.compile(r"Notebook 07|notebook 07")
    for info in pkgutil.iter_modules(asdlib.nets.peers.__path__, "asdlib.nets.peers."):
        module = importlib.import_module(info.name)
        assert module.__doc__ and pattern.search(module.__doc__), info.name
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                assert obj.__doc__ and re.search(r"Notebook 07", obj.__doc__), f"{info.name}.{name}"
