"""Tests of asdlib.data.download against small real zips served by a local HTTP server with Range support."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import zipfile
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import asdlib.data.download as dl
from asdlib.data.audio import save_wav
from asdlib.data.dataset import scan_dataset
from asdlib.data.dcase import Archive
from asdlib.data.download import (
    ArchiveError,
    DownloadError,
    check_disk,
    check_network,
    download_dcase,
    download_file,
    extract_archive,
    verify_counts,
)

# --------------------------------------------------------------------------- a local server


class RangeHandler(BaseHTTPRequestHandler):
    """Serves ``server.files`` (name -> bytes), honouring ``Range: bytes=N-M`` unless told not to."""

    def do_GET(self):  # noqa: N802
        srv = self.server
        rng = self.headers.get("Range")
        srv.log.append((self.path, rng))
        data = srv.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404)
            return
        start, end, status = 0, len(data) - 1, 200
        if rng and srv.honour_range:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else len(data) - 1
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start : end + 1]
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.cut_after is not None:  # simulate a dropped connection
            body = body[: srv.cut_after]
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.files, httpd.log, httpd.honour_range, httpd.cut_after = {}, [], True, None
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


# --------------------------------------------------------------------------- small DCASE-like zips

Zip = namedtuple("Zip", "name data md5 members")


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def make_zip(folder: Path, name: str, members: dict[str, int], compression=zipfile.ZIP_DEFLATED) -> Zip:
    """A zip holding tiny WAVs at the given member paths (value: number of samples)."""
    rng = np.random.default_rng(len(name))
    src = folder / f"src-{name}"
    path = folder / name
    with zipfile.ZipFile(path, "w", compression) as zf:
        for member, n in members.items():
            wav = save_wav(src / member, rng.uniform(-0.3, 0.3, n))
            zf.write(wav, member)
    data = path.read_bytes()
    return Zip(name, data, _md5(data), list(members))


FAN = {
    "fan/train/normal_id_00_00000000.wav": 4000,
    "fan/train/normal_id_00_00000001.wav": 4000,
    "fan/train/normal_id_02_00000000.wav": 4000,
    "fan/test/normal_id_00_00000000.wav": 4000,
    "fan/test/anomaly_id_00_00000000.wav": 4000,
}
VALVE_ADD = {
    "valve/train/normal_id_01_00000000.wav": 3000,
    "valve/train/normal_id_03_00000000.wav": 3000,
}


@pytest.fixture()
def zips(tmp_path):
    folder = tmp_path / "zips"
    folder.mkdir()
    return {
        "fan": make_zip(folder, "dev_data_fan.zip", FAN),
        "valve": make_zip(folder, "eval_data_train_valve.zip", VALVE_ADD),
    }


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------- download_file


def test_fresh_download_extract_and_count(server, zips, tmp_path):
    z = zips["fan"]
    server.files[z.name] = z.data
    dest = download_file(f"{server.url}/{z.name}", tmp_path / "dl" / z.name, md5=z.md5, progress=False)
    assert dest.read_bytes() == z.data
    assert not dest.with_name(z.name + ".part").exists()
    assert server.log == [("/" + z.name, None)]
    files = extract_archive(dest, tmp_path / "data")
    assert sorted(str(f.relative_to(tmp_path / "data")) for f in files) == sorted(z.members)
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["fan"]  # no temp folder left
    df = scan_dataset(tmp_path / "data")
    assert len(df) == 5 and df.anomaly.sum() == 1 and sorted(df.machine_id.unique()) == ["00", "02"]
    # present with the right MD5: not downloaded again
    download_file(f"{server.url}/{z.name}", dest, md5=z.md5, progress=False)
    assert len(server.log) == 1


def test_resume_partial_download_with_range(server, zips, tmp_path):
    z = zips["fan"]
    server.files[z.name] = z.data
    dest = tmp_path / z.name
    half = len(z.data) // 2
    dest.with_name(z.name + ".part").write_bytes(z.data[:half])
    download_file(f"{server.url}/{z.name}", dest, md5=z.md5, progress=False)
    assert server.log == [("/" + z.name, f"bytes={half}-")]
    assert dest.read_bytes() == z.data


def test_resume_falls_back_when_server_ignores_range(server, zips, tmp_path):
    z = zips["fan"]
    server.files[z.name], server.honour_range = z.data, False
    dest = tmp_path / z.name
    dest.with_name(z.name + ".part").write_bytes(z.data[:100])
    download_file(f"{server.url}/{z.name}", dest, md5=z.md5, progress=False)
    assert server.log[0][1] == "bytes=100-"
    assert dest.read_bytes() == z.data


def test_stale_part_is_restarted_once(server, zips, tmp_path):
    z = zips["fan"]
    server.files[z.name] = z.data
    dest = tmp_path / z.name
    dest.with_name(z.name + ".part").write_bytes(b"\0" * 100)  # wrong old bytes
    download_file(f"{server.url}/{z.name}", dest, md5=z.md5, progress=False)
    assert [r for _, r in server.log] == ["bytes=100-", None]
    assert dest.read_bytes() == z.data


def test_complete_part_is_accepted_after_416(server, zips, tmp_path):
    z = zips["fan"]
    server.files[z.name] = z.data
    dest = tmp_path / z.name
    dest.with_name(z.name + ".part").write_bytes(z.data)  # finished, but never renamed
    download_file(f"{server.url}/{z.name}", dest, md5=z.md5, progress=False)
    assert dest.read_bytes() == z.data


def test_dropped_connection_keeps_part_and_resumes(server, zips, tmp_path):
    z = zips["fan"]
    server.files[z.name], server.cut_after = z.data, 1000
    dest = tmp_path / z.name
    part = dest.with_name(z.name + ".part")
    with pytest.raises(DownloadError, match="interrupted.*run again to resume"):
        download_file(f"{server.url}/{z.name}", dest, md5=z.md5, progress=False, chunk_size=100)
    kept = part.stat().st_size  # whole chunks received before the drop
    assert 0 < kept <= 1000 and part.read_bytes() == z.data[:kept] and not dest.exists()
    server.cut_after = None
    download_file(f"{server.url}/{z.name}", dest, md5=z.md5, progress=False)
    assert server.log[-1][1] == f"bytes={kept}-" and dest.read_bytes() == z.data


def test_bad_checksum_removes_the_file(server, zips, tmp_path):
    z = zips["fan"]
    server.files[z.name] = z.data
    dest = tmp_path / z.name
    wrong = "0" * 32
    with pytest.raises(DownloadError) as err:
        download_file(f"{server.url}/{z.name}", dest, md5=wrong, progress=False)
    msg = str(err.value)
    assert z.name in msg and wrong in msg and z.md5 in msg
    assert list(tmp_path.glob(z.name + "*")) == []


def test_present_file_with_wrong_md5_is_downloaded_again(server, zips, tmp_path):
    z = zips["fan"]
    server.files[z.name] = z.data
    dest = tmp_path / z.name
    dest.write_bytes(b"not the archive")
    download_file(f"{server.url}/{z.name}", dest, md5=z.md5, progress=False)
    assert dest.read_bytes() == z.data and len(server.log) == 1


def test_file_url(zips, tmp_path):
    z = zips["fan"]
    src = tmp_path / "zips" / z.name
    dest = download_file(src.resolve().as_uri(), tmp_path / "out" / z.name, md5=z.md5, progress=False)
    assert dest.read_bytes() == z.data
    with pytest.raises(DownloadError, match="missing.zip"):
        download_file((tmp_path / "missing.zip").as_uri(), tmp_path / "out" / "m.zip", progress=False)


def test_unreachable_server(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/dev_data_fan.zip"
    with pytest.raises(DownloadError, match="network unreachable") as err:
        download_file(url, tmp_path / "x.zip", progress=False, timeout=5)
    assert url in str(err.value)
    assert not list(tmp_path.iterdir())
    assert check_network(f"http://127.0.0.1:{_closed_port()}", timeout=2) is False


def test_check_network_and_http_errors(server, tmp_path):
    assert check_network(server.url, timeout=5) is True
    with pytest.raises(DownloadError, match="HTTP 404.*nothing.zip"):
        download_file(f"{server.url}/nothing.zip", tmp_path / "n.zip", progress=False)
    with pytest.raises(DownloadError, match="unsupported URL scheme"):
        download_file("ftp://example.org/x.zip", tmp_path / "x.zip", progress=False)


def test_disk_check(server, zips, tmp_path, monkeypatch):
    with pytest.raises(DownloadError, match=r"not enough disk space.*needed.*free"):
        check_disk(tmp_path / "not" / "yet", 10**18)
    assert check_disk(tmp_path, 1) > 1
    z = zips["fan"]
    server.files[z.name] = z.data
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(dl.shutil, "disk_usage", lambda p: usage(100, 90, 10))
    with pytest.raises(DownloadError, match="not enough disk space"):
        download_file(f"{server.url}/{z.name}", tmp_path / "d" / z.name, md5=z.md5, progress=False)
    assert not (tmp_path / "d" / z.name).exists()


# --------------------------------------------------------------------------- extract_archive


def test_corrupt_zip_leaves_nothing(zips, tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("already here")
    not_zip = tmp_path / "dev_data_pump.zip"
    not_zip.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(ArchiveError, match="dev_data_pump.zip.*corrupt"):
        extract_archive(not_zip, out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]

    # a stored zip whose last member's bytes are damaged: the first members extract, then CRC fails
    z = make_zip(tmp_path / "zips", "dev_data_slider.zip", {
        "slider/train/normal_id_00_00000000.wav": 2000,
        "slider/train/normal_id_00_00000001.wav": 2000,
    }, compression=zipfile.ZIP_STORED)
    data = bytearray(z.data)
    with zipfile.ZipFile(tmp_path / "zips" / z.name) as zf:
        last = zf.infolist()[-1]
        offset = last.header_offset + 30 + len(last.filename.encode()) + 100
    data[offset] ^= 0xFF
    bad = tmp_path / "damaged.zip"
    bad.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="damaged.zip"):
        extract_archive(bad, out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "already here"


def test_path_traversal_is_refused(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("fan/train/normal_id_00_00000000.wav", b"x")
        zf.writestr("../../escaped.txt", b"gotcha")
    out = tmp_path / "a" / "b"
    with pytest.raises(ArchiveError, match="evil.zip.*unsafe member name"):
        extract_archive(evil, out)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "a" / "escaped.txt").exists()
    assert list(out.iterdir()) == []


# --------------------------------------------------------------------------- download_dcase, verify_counts


def test_download_dcase_with_local_server(server, zips, tmp_path, monkeypatch):
    fan, valve = zips["fan"], zips["valve"]
    server.files.update({fan.name: fan.data, valve.name: valve.data})
    archives = [
        Archive(fan.name, "development", "fan", "http://unreachable.invalid/fan", fan.md5),
        Archive(valve.name, "additional_training", "valve", "http://unreachable.invalid/valve", valve.md5),
    ]
    root = tmp_path / "dcase"
    table = download_dcase(archives, root, base_url=server.url + "/", progress=False)
    assert list(table.archive) == [fan.name, valve.name]
    assert set(table.status) == {"downloaded and extracted"}
    assert list(table.files) == [5, 2]
    assert (root / "archives" / fan.name).read_bytes() == fan.data
    df = scan_dataset(root)
    assert len(df) == 7
    assert set(df[df.machine_type == "valve"].dataset) == {"additional_training"}

    # a rerun skips both archives without touching the network
    n = len(server.log)
    again = download_dcase(archives, root, base_url=server.url, progress=False)
    assert set(again.status) == {"already extracted"} and len(server.log) == n

    # verify_counts against an expected table matching these little archives
    expected = pd.DataFrame([
        ("fan", "development", "train", "00", "normal", 2),
        ("fan", "development", "train", "02", "normal", 1),
        ("fan", "development", "test", "00", "normal", 1),
        ("fan", "development", "test", "00", "anomaly", 1),
        ("valve", "additional_training", "train", "01", "normal", 1),
        ("valve", "additional_training", "train", "03", "normal", 2),  # one is missing
    ], columns=["machine_type", "dataset", "split", "machine_id", "label", "files"])
    monkeypatch.setattr(dl, "expected_file_counts", lambda: expected)
    report = verify_counts(root)
    assert report.ok.sum() == 5 and len(report) == 6
    bad = report[~report.ok].iloc[0]
    assert (bad.machine_id, bad.expected, bad.found) == ("03", 2, 1)
    dev = verify_counts(root, datasets=("development",))
    assert dev.ok.all() and set(dev.dataset) == {"development"}


def test_download_dcase_reports_the_failing_archive(server, zips, tmp_path):
    fan = zips["fan"]
    server.files[fan.name] = fan.data
    archives = [Archive(fan.name, "development", "fan", "", "f" * 32)]
    with pytest.raises(DownloadError, match=f"{fan.name}.*checksum mismatch"):
        download_dcase(archives, tmp_path / "d", base_url=server.url, progress=False)
    assert not list((tmp_path / "d").rglob("*.wav"))
    assert not list((tmp_path / "d").glob(".extracted-*"))


def test_verify_counts_against_the_real_table(tmp_path):
    """On the bundled sample, every real development row is reported and none is complete."""
    from asdlib.paths import SAMPLE_DIR

    report = verify_counts(SAMPLE_DIR, datasets=("development",))
    assert report.found.sum() == 31 and not report.ok.any()
    assert report.expected.sum() == 20_119 + 10_868


# --------------------------------------------------------------------------- the evaluation set (option)

EVAL_FAN = {
    "fan/test/id_01_00000000.wav": 2000,
    "fan/test/id_01_00000001.wav": 2000,
    "fan/test/id_03_00000000.wav": 2000,
}
EVAL_TRUTH = ("fan\nid_01_00000000.wav,normal_id_01_00000098.wav,0\n"
              "id_01_00000001.wav,anomaly_id_01_00000003.wav,1\n"
              "id_03_00000000.wav,normal_id_03_00000011.wav,0\n"
              "id_03_00000001.wav,anomaly_id_03_00000007.wav,1\n")


def test_evaluation_archives_are_the_facts():
    from asdlib.data.dcase import GROUND_TRUTH_URL, evaluation_archives, paper_archives

    archives = evaluation_archives()
    assert [a.name for a in archives] == [f"eval_data_test_{t}.zip" for t in
                                          ("fan", "pump", "slider", "ToyCar", "ToyConveyor", "valve")]
    assert all("/record/3841772/" in a.url and a.dataset == "evaluation" for a in archives)
    assert {a.name: a.md5 for a in archives}["eval_data_test_fan.zip"] == "1eb9356a768cadfd0f2e59a5c57e578b"
    assert not {a.name for a in archives} & {a.name for a in paper_archives()}  # an option only
    assert GROUND_TRUTH_URL == "https://zenodo.org/record/3951620/files/eval_data_list.csv?download=1"


def test_download_evaluation_set_and_ground_truth(server, tmp_path, monkeypatch, capsys):
    import asdlib.data.dcase as dcase  # the command reads the archive lists from here when it runs
    from asdlib.cli import main

    dev = make_zip(tmp_path, "dev_data_fan.zip", {"fan/train/normal_id_00_00000000.wav": 2000,
                                                  "fan/test/anomaly_id_00_00000000.wav": 2000})
    ev = make_zip(tmp_path, "eval_data_test_fan.zip", EVAL_FAN)
    server.files.update({dev.name: dev.data, ev.name: ev.data,
                         "eval_data_list.csv": EVAL_TRUTH.encode()})
    monkeypatch.setattr(dcase, "paper_archives",
                        lambda: [Archive(dev.name, "development", "fan", "", dev.md5)])
    monkeypatch.setattr(dcase, "evaluation_archives",
                        lambda: [Archive(ev.name, "evaluation", "fan", "", ev.md5)])
    monkeypatch.setattr(dl, "expected_file_counts", lambda: pd.DataFrame(
        [("fan", "development", "train", "00", "normal", 1), ("fan", "development", "test", "00", "anomaly", 1)],
        columns=["machine_type", "dataset", "split", "machine_id", "label", "files"]))
    root = tmp_path / "dcase"
    code = main(["download", "--out", str(root), "--base-url", server.url, "--evaluation"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert sorted(p.name for p in (root / "evaluation" / "fan" / "test").iterdir()) == sorted(
        Path(m).name for m in EVAL_FAN)
    assert (root / "evaluation" / "eval_data_list.csv").read_text() == EVAL_TRUTH
    assert "--ground-truth" in out and "fan" in out
    cover = dl.evaluation_coverage(root / "evaluation", root / "evaluation" / "eval_data_list.csv")
    assert cover[["listed", "found", "missing"]].values.tolist() == [[4, 3, 1]]
    table = scan_dataset(root / "evaluation")
    assert set(table["label"]) == {"unlabelled"} and table["anomaly"].isna().all()
    assert set(table["dataset"]) == {"evaluation"} and sorted(table["machine_id"].unique()) == ["01", "03"]
    assert not list(scan_dataset(root)["dataset"] == "evaluation").count(True)  # kept apart


def test_ground_truth_that_is_not_one_is_removed(server, tmp_path):
    server.files["eval_data_list.csv"] = b"<html><body>rate limited</body></html>\n"
    with pytest.raises(DownloadError, match="eval_data_list.csv.*not the ground truth.*removed"):
        dl.download_ground_truth(tmp_path, base_url=server.url, progress=False)
    assert not (tmp_path / "eval_data_list.csv").exists()
