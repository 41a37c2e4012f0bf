"""Members of a package read with their sizes checked before their bytes; safetensors
headers and .npz arrays checked before anything is built from them."""

import io
import json
import os
import struct
import zipfile

import numpy as np
import pytest

from landlearn.core.errors import InputError
from landlearn.core.model_package.members import PackageFiles, check_npz, safetensors_header


def _safetensors(arrays):
    pytest.importorskip("safetensors")
    from safetensors.numpy import save

    return save(arrays)


def _split(data):
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header, body, claimed=None):
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if claimed is None else claimed) + raw + body


def test_safetensors_header_of_a_real_blob():
    data = _safetensors({"encoder.weight": np.zeros((4, 3, 2, 2), np.float32),
                         "steps": np.arange(5, dtype=np.int64), "flag": np.ones(1, bool)})
    assert safetensors_header(data, "m.dlpk", "model") == {
        "encoder.weight": ("F32", (4, 3, 2, 2)), "steps": ("I64", (5,)), "flag": ("BOOL", (1,))}
    from safetensors.numpy import load

    assert load(data)["steps"].tolist() == [0, 1, 2, 3, 4]  # what the header described


@pytest.mark.parametrize("damage,why", [
    (lambda h, b: b"\x01\x00", "shorter than a safetensors header"),
    (lambda h, b: _join(h, b, claimed=10**9), "the header claims 1000000000 bytes"),
    (lambda h, b: _join(h, b[:-4]), "tensor '.' lies about its offsets or length"),
    (lambda h, b: _join(h, b + b"\0" * 8), "the data does not end where the last tensor does"),
    (lambda h, b: _join({**h, "a": {**h["a"], "dtype": "PICKLE"}}, b), "tensor 'a' has no known data type"),
    (lambda h, b: _join({**h, "a": {**h["a"], "shape": [-2, -3]}}, b), "tensor 'a' has an impossible shape"),
    (lambda h, b: _join({**h, "a": {**h["a"], "shape": [3, 2]}}, b), None),  # same bytes, other shape
    (lambda h, b: _join({**h, "b": {**h["b"], "data_offsets": h["a"]["data_offsets"]}}, b),
     "tensors overlap or leave gaps"),
    (lambda h, b: _join([1, 2], b), "the header is not a JSON object"),
    (lambda h, b: struct.pack("<Q", 4) + b"{{{{", "the header is not JSON"),
])
def test_a_damaged_safetensors_header_is_refused(damage, why):
    data = _safetensors({"a": np.zeros((2, 3), np.float32), "b": np.zeros(6, np.float32)})
    header, body = _split(data)
    bad = damage(header, body)
    if why is None:  # a consistent reshape is still a well-formed header: the shape is reported
        assert safetensors_header(bad, "m", "model")["a"] == ("F32", (3, 2))
        return
    with pytest.raises(InputError, match=f"^MODEL: 'm.dlpk': the weights are damaged \\(({why})"):
        safetensors_header(bad, "m.dlpk", "model")


def _zip(path, members, deflate=False):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return str(path)


def test_zip_members_are_read_under_their_limit(tmp_path):
    pkg = _zip(tmp_path / "m.dlpk", {"m.emd": b'{"a": 1}', "w.bin": b"x" * 5000})
    with PackageFiles(pkg) as files:
        assert files.names() == ["m.emd", "w.bin"] and files.size("w.bin") == 5000
        assert files.read_json("m.emd") == {"a": 1}
        assert files.read("w.bin", 5000, "weights") == b"x" * 5000
        with pytest.raises(InputError, match=r"^MODEL: '.*m.dlpk' holds weights 'w.bin' of 0.0 MB, "
                                             r"more than the 0.0 MB such a model can need"):
            files.read("w.bin", 4999, "weights")
        with pytest.raises(InputError, match="does not hold 'other.bin' that its .emd names"):
            files.read("other.bin", 10, "weights")
        with pytest.raises(InputError, match="holds a model description 'w.bin' that is not valid JSON"):
            files.read_json("w.bin")


def test_a_zip_bomb_and_a_cut_zip_are_refused_unread(tmp_path):
    bomb = _zip(tmp_path / "bomb.dlpk", {"m.emd": b"{}", "w.bin": b"\0" * (3 << 20)}, deflate=True)
    with PackageFiles(bomb) as files, pytest.raises(InputError, match="compressed .* times .a zip bomb."):
        files.read("w.bin", 8 << 20, "weights")
    whole = open(_zip(tmp_path / "ok.dlpk", {"m.emd": b"{}" * 100}), "rb").read()
    (tmp_path / "cut.dlpk").write_bytes(whole[:-10])
    with pytest.raises(InputError, match=r"^MODEL: '.*cut.dlpk' is not a complete .dlpk \(zip\) file"):
        PackageFiles(str(tmp_path / "cut.dlpk"))
    # no zip at all (text, an empty file, a tar.gz named .dlpk): said so, not 'truncated'
    # (a sweep, stop 69)
    import gzip

    (tmp_path / "text.dlpk").write_text("hello")
    (tmp_path / "empty.dlpk").write_bytes(b"")
    (tmp_path / "tar.dlpk").write_bytes(gzip.compress(whole))
    for name in ("text.dlpk", "empty.dlpk", "tar.dlpk"):
        with pytest.raises(InputError, match=r"^OUTPUT_MODEL: .* is no zip archive \(empty, "
                           r"or a tar, 7z or other archive named .dlpk\)"):
            PackageFiles(str(tmp_path / name), "output_model")


def test_a_folder_package_never_reads_outside_itself(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "m.emd").write_text('{"x": 2}')
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", pkg / "link.bin")
    with PackageFiles(str(pkg)) as files:
        assert files.read_json("m.emd") == {"x": 2} and "link.bin" in files.names()
        for name in ("../secret.txt", "/etc/passwd", "..", ""):
            with pytest.raises(InputError, match="which is not a plain file name in its folder"):
                files.read(name, 100, "weights")
        with pytest.raises(InputError, match="'link.bin', which leads outside the package folder"):
            files.read("link.bin", 100, "weights")
        with pytest.raises(InputError, match="lacks 'w.bin' beside its .emd"):
            files.read("w.bin", 100, "weights")


def test_a_folder_package_lists_its_report_and_nothing_deeper(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "report" / "deeper").mkdir(parents=True)
    (pkg / "m.emd").write_text("{}")
    (pkg / "report" / "report.html").write_text("<html>")
    (pkg / "report" / "deeper" / "x.txt").write_text("x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret.txt").write_text("outside")
    with PackageFiles(str(pkg)) as files:
        assert files.names() == ["m.emd", "report", "report/report.html"]
        assert files.read("report/report.html", 100, "report file") == b"<html>"
        for name in ("report/deeper/x.txt", "other/report.html", "report/..", "report/"):
            with pytest.raises(InputError, match="which is not a plain file name in its folder"):
                files.read(name, 100, "report file")
    # a report folder that is a link to somewhere else is neither listed nor read
    os.rename(pkg / "report", tmp_path / "old_report")
    os.symlink(tmp_path / "elsewhere", pkg / "report")
    with PackageFiles(str(pkg)) as files:
        assert files.names() == ["m.emd", "report"]
        with pytest.raises(InputError, match="leads outside the package folder"):
            files.read("report/secret.txt", 100, "report file")


def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_check_npz_accepts_plain_arrays_and_refuses_objects_and_lies():
    good = _npz(a=np.arange(10), b=np.zeros((3, 4), np.float32))
    check_npz(good, 1 << 20, "m.dlpk", "model", "the trees file")
    with pytest.raises(InputError, match=r"^MODEL: 'm.dlpk': the trees file is damaged or crafted "
                                         r"\('a.npy' holds Python objects\)"):
        check_npz(_npz(a=np.array([{"x": 1}], dtype=object)), 1 << 20, "m.dlpk", "model",
                  "the trees file")
    with pytest.raises(InputError, match="its members unpack to"):
        check_npz(good, 100, "m.dlpk", "model", "the trees file")
    # an array header claiming more than the member holds
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        raw = zf.read("a.npy")
    lying = raw.replace(b"(10,)", b"(99,)")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.npy", lying)
    with pytest.raises(InputError, match=r"'a.npy' claims \(99,\)"):
        check_npz(buf.getvalue(), 1 << 20, "m.dlpk", "model", "the trees file")
    # the same lie in a member named without .npy: np.load's ["a"] reads it before "a.npy"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a", lying)
    with pytest.raises(InputError, match=r"'a' claims \(99,\)"):
        check_npz(buf.getvalue(), 1 << 20, "m.dlpk", "model", "the trees file")
    with pytest.raises(InputError, match="the trees file is damaged or crafted .BadZipFile"):
        check_npz(b"not a zip", 1 << 20, "m.dlpk", "model", "the trees file")


@pytest.mark.parametrize("zip64", [False, True])
def test_a_zip_of_too_many_entries_is_refused_before_its_directory_is_read(tmp_path,
                                                                          monkeypatch, zip64):
    """The count comes from the end record (zip64's too): zipfile would first build an
    object per entry (2 million empty entries: a 100 MB file, over a gigabyte)."""
    from landlearn.core.model_package import members

    path = tmp_path / "many.dlpk"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(40):
            zf.writestr(f"f{i}", b"", zipfile.ZIP_STORED)
    if zip64:  # the same zip with a zip64 end record, as zipfile writes past 65535 entries
        monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 10)
        with zipfile.ZipFile(path, "w") as zf:
            for i in range(40):
                zf.writestr(f"f{i}", b"", zipfile.ZIP_STORED)
        assert b"PK\x06\x06" in path.read_bytes()
    assert members._check_zip_end(str(path))[0] == 40
    monkeypatch.setattr(members, "MAX_MEMBERS", 39)
    built = []
    monkeypatch.setattr(zipfile, "ZipFile", lambda *a, **k: built.append(a))
    with pytest.raises(InputError, match="many.dlpk' holds 40 files in a 0.0 MB directory"):
        PackageFiles(str(path))
    assert not built


def test_a_zip64_record_that_counts_more_than_the_ordinary_one_is_believed(tmp_path,
                                                                          monkeypatch):
    """zipfile takes the zip64 record's counts whenever its locator is there, whatever
    the ordinary end record says: a crafted package saying 40 entries there and 2 million
    in the zip64 record must be refused by the larger."""
    from landlearn.core.model_package import members

    path = tmp_path / "crafted.dlpk"
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 10)  # zip64 records for 40 entries
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(40):
            zf.writestr(f"f{i}", b"", zipfile.ZIP_STORED)
    monkeypatch.undo()
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x06\x06")
    assert struct.unpack("<H", data[-22 + 10:-22 + 12])[0] == 40  # the ordinary record
    data[at + 24:at + 40] = struct.pack("<QQ", 2_000_000, 2_000_000)
    path.write_bytes(bytes(data))
    assert members._check_zip_end(str(path))[0] == 2_000_000
    with pytest.raises(InputError, match="crafted.dlpk' holds 2000000 files"):
        PackageFiles(str(path))


def test_a_pipe_is_no_package(tmp_path):
    fifo = tmp_path / "model.dlpk"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is neither a .dlpk file nor a package folder"):
        PackageFiles(str(fifo))


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_bzip2_and_lzma_members_are_refused_unread(tmp_path, method):
    """Python's zipfile bounds what deflate inflates per read, not bzip2 or LZMA: a member
    declaring 10 bytes could inflate to gigabytes before any size check. Refused on sight,
    in a package and in an .npz inside one."""
    path = tmp_path / "odd.dlpk"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("m.emd", "{}", compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("m.safetensors", b" " * 1000, compress_type=method)
    with pytest.raises(InputError, match="^MODEL: .*'m.safetensors' .(bzip2|LZMA). compressed "
                                         "in a way model packages never use.*Zip the package "
                                         "again with deflate"):
        PackageFiles(str(path), "model")
    buf = io.BytesIO()
    np.savez(buf, a=np.arange(4))
    odd = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(odd, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info), compress_type=method)
    with pytest.raises(InputError, match="compressed with other than stored or deflate"):
        check_npz(odd.getvalue(), 1 << 20, "m.dlpk", "model", "the trees")
