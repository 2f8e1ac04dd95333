"""Checksum-verified, resumable download and safe extraction of the DCASE 2020 Task 2 archives.

A download goes to ``<dest>.part`` (resumed with an HTTP Range request when it exists), is
checked against its MD5 and only then renamed to ``<dest>``. An archive is extracted into a
temporary folder first and moved into place only once all of it extracted; a marker file records
each extracted archive so a rerun skips it. Explained in notebook 01_data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Iterable

import pandas as pd
import requests
from tqdm.auto import tqdm

from asdlib.data.dataset import compare_counts, count_files, scan_dataset
from asdlib.data.dcase import (Archive, expected_file_counts, GROUND_TRUTH_NAME, GROUND_TRUTH_URL,
                               GroundTruthError, read_ground_truth)

__all__ = [
    "DownloadError",
    "ArchiveError",
    "file_md5",
    "check_network",
    "check_disk",
    "download_file",
    "extract_archive",
    "download_dcase",
    "verify_counts",
    "download_ground_truth",
    "evaluation_coverage",
]

PART_SUFFIX = ".part"
MARKER_PREFIX = ".extracted-"


class DownloadError(RuntimeError):
    """A download that failed: network, HTTP status, checksum or disk space. Notebook 01."""


class ArchiveError(DownloadError):
    """An archive that is corrupt or holds unsafe member names. Notebook 01."""


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n} B"  # pragma: no cover


def file_digest(path: str | os.PathLike, algorithm: str = "md5", chunk_size: int = 1 << 20) -> str:
    """Hex digest (``md5``, ``sha256``, ...) of a file, read in chunks. Notebook 01."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def file_md5(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """MD5 hex digest of a file, read in chunks (the DCASE archives' checksums). Notebook 01."""
    return file_digest(path, "md5", chunk_size)


def check_network(url: str = "https://zenodo.org", timeout: float = 5) -> bool:
    """True when the server at ``url`` answers at all (any HTTP status), False when unreachable. Notebook 01."""
    try:
        requests.head(url, timeout=timeout, allow_redirects=True)
    except requests.RequestException:
        return False
    return True


def check_disk(path: str | os.PathLike, needed_bytes: int) -> int:
    """Raise DownloadError unless ``needed_bytes`` fit on the disk holding ``path``; return free bytes. Notebook 01."""
    p = Path(path).expanduser().resolve()
    probe = p
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed_bytes > free:
        raise DownloadError(
            f"not enough disk space for {p}: {_human(needed_bytes)} needed, "
            f"{_human(free)} free on the disk holding {probe}"
        )
    return free


def _verify(path: Path, md5: str | None, dest: Path) -> None:
    """Check an MD5; on mismatch remove the bad file and raise DownloadError naming it."""
    if md5 is None:
        return
    got = file_md5(path)
    if got.lower() != md5.lower():
        path.unlink(missing_ok=True)
        raise DownloadError(
            f"checksum mismatch for {dest.name} ({dest}): expected md5 {md5.lower()}, got {got}; "
            f"the bad file was removed, run again to download it afresh"
        )


def _bar(total: int | None, initial: int, name: str, progress: bool) -> tqdm:
    return tqdm(
        total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
        desc=name, disable=not progress, leave=False,
    )


def _copy_local(src: Path, part: Path, url: str, progress: bool, chunk_size: int) -> None:
    """Copy a file:// source into the .part file, resuming from its current size."""
    if not src.is_file():
        raise DownloadError(f"source file {src} not found (URL {url})")
    total = src.stat().st_size
    have = part.stat().st_size if part.exists() else 0
    if have > total:
        part.unlink()
        have = 0
    check_disk(part.parent, total - have)
    with open(src, "rb") as fin, open(part, "ab" if have else "wb") as fout, _bar(total, have, part.name[: -len(PART_SUFFIX)], progress) as bar:
        fin.seek(have)
        for block in iter(lambda: fin.read(chunk_size), b""):
            fout.write(block)
            bar.update(len(block))


_RANGE_RE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _fetch_http(url: str, part: Path, progress: bool, timeout: float, chunk_size: int) -> None:
    """Download into the .part file with requests, resuming with a Range request when possible."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        r = requests.get(url, stream=True, timeout=timeout, headers=headers, allow_redirects=True)
    except requests.exceptions.Timeout as exc:
        raise DownloadError(f"network unreachable: timed out connecting to {url} ({exc})") from exc
    except requests.exceptions.ConnectionError as exc:
        raise DownloadError(
            f"network unreachable: could not connect to {url} (offline, DNS failure or "
            f"connection refused: {exc})"
        ) from exc
    except requests.RequestException as exc:
        raise DownloadError(f"request to {url} failed: {exc}") from exc
    with r:
        if r.status_code == 416 and have:
            # the .part may already hold the whole file; the caller's checksum decides
            return
        if r.status_code >= 400:
            raise DownloadError(f"HTTP {r.status_code} {r.reason} for {url}")
        mode = "wb"
        start = 0
        total: int | None = None
        length = r.headers.get("Content-Length")
        remaining = int(length) if length and length.isdigit() else None
        if r.status_code == 206 and have:
            m = _RANGE_RE.match(r.headers.get("Content-Range", ""))
            if m and int(m.group(1)) == have:
                mode, start = "ab", have
                total = int(m.group(3)) if m.group(3) != "*" else None
            # else: an unexpected range; restart from zero below
        if mode == "wb":
            if r.status_code == 206:  # a range we did not ask for: ask again for everything
                r.close()
                part.unlink(missing_ok=True)
                return _fetch_http(url, part, progress, timeout, chunk_size)
            total = remaining  # 200: the server ignored Range (or none was sent): restart
        if remaining is not None:
            check_disk(part.parent, remaining)
        written = start
        try:
            with open(part, mode) as f, _bar(total, start, part.name[: -len(PART_SUFFIX)], progress) as bar:
                for block in r.iter_content(chunk_size=chunk_size):
                    if block:
                        f.write(block)
                        written += len(block)
                        bar.update(len(block))
        except requests.RequestException as exc:
            raise DownloadError(
                f"download of {url} was interrupted after {_human(written)} ({exc}); "
                f"the partial file {part} is kept: run again to resume"
            ) from exc
        if total is not None and written < total:
            raise DownloadError(
                f"download of {url} ended early: {written} of {total} bytes; "
                f"the partial file {part} is kept: run again to resume"
            )


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    md5: str | None = None,
    progress: bool = True,
    timeout: float = 30,
    chunk_size: int = 1 << 20,
) -> Path:
    """Download ``url`` (http, https or file) to ``dest`` via a resumable ``.part`` file, MD5-checked. Notebook 01."""
    dest = Path(dest).expanduser().resolve()
    part = dest.with_name(dest.name + PART_SUFFIX)
    scheme = urllib.parse.urlparse(url).scheme.lower()
    if scheme == "file":
        src = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
        fetch = lambda: _copy_local(src, part, url, progress, chunk_size)  # noqa: E731
    elif scheme in ("http", "https"):
        fetch = lambda: _fetch_http(url, part, progress, timeout, chunk_size)  # noqa: E731
    else:
        raise DownloadError(f"unsupported URL scheme {scheme!r} in {url} (use http, https or file)")
    if dest.exists():
        if md5 is None or file_md5(dest).lower() == md5.lower():
            return dest
        dest.unlink()  # present but wrong: download it again
    dest.parent.mkdir(parents=True, exist_ok=True)
    resumed = part.exists() and part.stat().st_size > 0
    fetch()
    if resumed and md5 is not None and file_md5(part).lower() != md5.lower():
        # the old bytes of the resumed .part may be stale: try once from scratch
        part.unlink()
        fetch()
    _verify(part, md5, dest)
    os.replace(part, dest)
    return dest


def read_checksum_record(record_path: str | os.PathLike, keys=("size", "sha256"), *,
                         error: type[Exception] = ValueError, hint: str = "the file beside it") -> dict | None:
    """A download's checksum record (JSON), or None when there is none; an unreadable one raises ``error``. Notebook 04.

    Used for files whose checksum is not published: the first download records its size and
    SHA-256 (``fetch_with_record``), every later use must match.
    """
    record_path = Path(record_path)
    if not record_path.is_file():
        return None
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        for key in keys:
            record[key]
    except (ValueError, KeyError, TypeError) as e:
        raise error(f"{record_path}: unreadable checksum record ({e}); delete it and {hint} to "
                    "download afresh") from e
    return record


def fetch_with_record(url: str, dest: str | os.PathLike, record_path: str | os.PathLike,
                      record: dict | None, *, what: str, md5: str | None = None,
                      extra: dict | None = None, validate=None,
                      error: type[Exception] = ValueError, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` unless present; write its checksum record the first time, else check it. Notebook 04.

    ``record`` is ``read_checksum_record``'s result (None: first download). ``validate(dest)``
    may raise before a first record is written (e.g. an HTML page instead of a checkpoint);
    ``extra`` adds fields to the record. A size or SHA-256 that differs from the record raises
    ``error``; without a network the ``DownloadError`` propagates with a note naming ``what``.
    """
    from datetime import datetime, timezone

    dest, record_path = Path(dest), Path(record_path)
    if not dest.is_file():
        try:
            download_file(url, dest, md5=md5, progress=progress)
        except DownloadError as e:
            if hasattr(e, "add_note"):  # Python >= 3.11
                e.add_note(f"could not download {what} from {url} to {dest}; without a network, "
                           "copy the file there by hand")
            raise
    size, sha = dest.stat().st_size, file_digest(dest, "sha256")
    if record is None:
        if validate is not None:
            validate(dest)
        record = {"url": url, "file": dest.name, "size": size, "sha256": sha, **(extra or {}),
                  "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    elif (size, sha) != (record["size"], record["sha256"]):
        raise error(
            f"{dest}: size {size} / sha256 {sha} differ from the record {record_path} made at the "
            f"first download (size {record['size']} / sha256 {record['sha256']}); the file changed "
            "or is corrupt: delete both to download afresh")
    return dest


def _safe_members(zf: zipfile.ZipFile, zip_path: Path) -> list[zipfile.ZipInfo]:
    """The archive's members, refusing absolute paths, '..' components and symbolic links."""
    members = []
    for info in zf.infolist():
        name = info.filename
        parts = Path(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            raise ArchiveError(f"archive {zip_path} holds an unsafe member name {name!r}; nothing was extracted")
        mode = (info.external_attr >> 16) & 0o170000
        if mode == 0o120000:
            raise ArchiveError(f"archive {zip_path} holds a symbolic link {name!r}; nothing was extracted")
        members.append(info)
    return members


def extract_archive(zip_path: str | os.PathLike, out_dir: str | os.PathLike) -> list[Path]:
    """Extract a zip into ``out_dir`` all-or-nothing (temp folder, then move); return the files. Notebook 01."""
    zip_path = Path(zip_path).expanduser().resolve()
    out_dir = Path(out_dir).expanduser().resolve()
    if not zip_path.is_file():
        raise ArchiveError(f"archive {zip_path} not found")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extracting-", dir=out_dir))
    try:
        try:
            with zipfile.ZipFile(zip_path) as zf:
                members = _safe_members(zf, zip_path)
                check_disk(out_dir, sum(m.file_size for m in members))
                zf.extractall(tmp, members=members)  # CRC errors surface while reading
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
            raise ArchiveError(
                f"archive {zip_path} is corrupt or unreadable ({exc}); nothing was extracted "
                f"into {out_dir}; delete it and download it again"
            ) from exc
        extracted = sorted(p for p in tmp.rglob("*") if p.is_file())
        targets = []
        for src in extracted:
            target = out_dir / src.relative_to(tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, target)
            targets.append(target)
        return targets
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _marker(data_root: Path, archive: Archive) -> Path:
    return data_root / f"{MARKER_PREFIX}{archive.name}.json"


def download_dcase(
    archives: Iterable[Archive],
    data_root: str | os.PathLike,
    *,
    archive_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    progress: bool = True,
    keep_archives: bool = True,
) -> pd.DataFrame:
    """Download, verify and extract DCASE archives into ``data_root``, skipping extracted ones. Notebook 01.

    Evaluation-set archives (unlabelled test clips) are extracted into ``data_root/evaluation`` so
    they never mix with the development test folders.
    """
    data_root = Path(data_root).expanduser().resolve()
    archive_dir = Path(archive_dir).expanduser().resolve() if archive_dir else data_root / "archives"
    data_root.mkdir(parents=True, exist_ok=True)
    rows = []
    for a in archives:
        out_dir = data_root / "evaluation" if a.dataset == "evaluation" else data_root
        marker = _marker(data_root, a)
        zip_path = archive_dir / a.name
        row = {"archive": a.name, "dataset": a.dataset, "machine_type": a.machine_type, "path": str(zip_path)}
        if marker.exists():
            try:
                done = json.loads(marker.read_text())
            except ValueError:
                done = {}
            if done.get("md5") == a.md5:
                rows.append({**row, "status": "already extracted", "files": done.get("files", 0)})
                continue
        url = f"{base_url.rstrip('/')}/{a.name}" if base_url else a.url
        present = zip_path.exists()
        try:
            download_file(url, zip_path, md5=a.md5, progress=progress)
            files = extract_archive(zip_path, out_dir)
        except DownloadError as exc:
            raise DownloadError(
                f"{a.name}: {exc} (archives already extracted are kept; run again to continue)"
            ) from exc
        tmp = marker.with_name(marker.name + ".tmp")
        tmp.write_text(json.dumps({"archive": a.name, "md5": a.md5, "files": len(files), "out_dir": str(out_dir)}))
        os.replace(tmp, marker)
        if not keep_archives:
            zip_path.unlink(missing_ok=True)
        status = "extracted (archive was present)" if present else "downloaded and extracted"
        rows.append({**row, "status": status, "files": len(files)})
    return pd.DataFrame(rows, columns=["archive", "dataset", "machine_type", "status", "path", "files"])


def verify_counts(
    root: str | os.PathLike,
    datasets: Iterable[str] = ("development", "additional_training"),
    machine_types: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Compare the files under ``root`` with the expected DCASE counts for the datasets asked for. Notebook 01."""
    datasets = (datasets,) if isinstance(datasets, str) else tuple(datasets)
    expected = expected_file_counts()
    expected = expected[expected["dataset"].isin(datasets)]
    df = scan_dataset(root, machine_types=machine_types)
    df = df[df["dataset"].isin(datasets)]
    if machine_types is not None:
        types = (machine_types,) if isinstance(machine_types, str) else tuple(machine_types)
        expected = expected[expected["machine_type"].isin(types)]
    return compare_counts(count_files(df), expected)


def download_ground_truth(
    dest_dir: str | os.PathLike, *, base_url: str | None = None, progress: bool = True
) -> Path:
    """Download the evaluation set's ``eval_data_list.csv`` (record 3951620) into ``dest_dir`` and check it parses. Notebook 01.

    Its checksum is not published, so the file is checked by parsing it instead: a file that is
    not the ground truth (an error page, say) is removed and ``DownloadError`` names it.
    """
    dest = Path(dest_dir).expanduser().resolve() / GROUND_TRUTH_NAME
    url = f"{base_url.rstrip('/')}/{GROUND_TRUTH_NAME}" if base_url else GROUND_TRUTH_URL
    download_file(url, dest, md5=None, progress=progress)
    try:
        read_ground_truth(dest)
    except GroundTruthError as exc:
        dest.unlink(missing_ok=True)
        raise DownloadError(f"downloaded {url} to {dest}, but it is not the ground truth ({exc}); "
                            "it was removed, run again") from exc
    return dest


def evaluation_coverage(eval_root: str | os.PathLike, ground_truth: str | os.PathLike) -> pd.DataFrame:
    """Per machine type: evaluation clips the ground truth lists, found under ``eval_root``, and missing. Notebook 01."""
    truth = read_ground_truth(ground_truth)
    root = Path(eval_root)
    rows = []
    for mt, group in truth.groupby("machine_type", sort=False):
        present = {p.name for p in (root / mt / "test").glob("id_*.wav")}
        found = int(group["file_name"].isin(present).sum())
        rows.append({"machine_type": mt, "listed": len(group), "found": found,
                     "missing": len(group) - found, "ok": found == len(group)})
    return pd.DataFrame(rows, columns=["machine_type", "listed", "found", "missing", "ok"])
