"""Derived data in the state dir is verified before it is used: a product-cache entry that is
cut short, altered, of another layout or shape is a miss -- recomputed, replaced, never a
crash and never a wrong answer -- and the pipeline's files are never touched."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from dsa110_ws.cli import main
from dsa110_ws.services.products.cache import ProductCache

MAGIC = b"DSA110WS-CACHE2\n"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def src(tmp_path) -> Path:
    p = tmp_path / "product.dat"
    p.write_bytes(b"a product")
    return p


@pytest.fixture()
def cache(tmp_path) -> ProductCache:
    return ProductCache(tmp_path / "state" / "products")


def _entry(cache: ProductCache) -> Path:
    (entry,) = list(cache.root.rglob("*.entry"))
    return entry


def _parts(entry: Path) -> tuple[bytes, dict, bytes]:
    raw = entry.read_bytes()
    n = int.from_bytes(raw[len(MAGIC) : len(MAGIC) + 8], "little")
    header = raw[len(MAGIC) + 8 : len(MAGIC) + 8 + n]
    return raw, json.loads(header), raw[len(MAGIC) + 8 + n :]


def _rebuild(header: dict | bytes, payload: bytes, *, claimed: int | None = None) -> bytes:
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(h) if claimed is None else claimed
    return MAGIC + n.to_bytes(8, "little") + h + payload


def _damage_bytes(raw: bytes, header: dict, payload: bytes, how: str) -> bytes:
    head = len(MAGIC) + 8
    return {
        "payload_cut_short": raw[:-3],
        "payload_grown": raw + b"\x00\x00",
        "payload_altered_same_length": raw[:-1] + bytes([raw[-1] ^ 0x01]),
        "header_claims_2_62_bytes": _rebuild(header, payload, claimed=1 << 62),
        "header_claims_zero_bytes": _rebuild(header, payload, claimed=0),
        "header_claims_more_than_the_file": _rebuild(header, payload, claimed=len(raw)),
        "header_cut_mid_way": raw[: head + 10],
        "header_not_json": _rebuild(b"{not json" + b" " * 20, payload),
        "header_a_json_list": _rebuild(b"[1, 2, 3]", payload),
        "header_not_utf8": _rebuild(b"\xff\xfe\x00garbage", payload),
        "header_nested_too_deep": _rebuild(b"[" * 100_000 + b"]" * 100_000, payload),
        "header_without_checksum": _rebuild(
            {k: v for k, v in header.items() if k != "payload_sha256"}, payload
        ),
        "header_checksum_a_number": _rebuild({**header, "payload_sha256": 7}, payload),
        "header_length_a_string": _rebuild({**header, "payload_bytes": "12"}, payload),
        "an_older_cache_layout": b"DSA110WS-CACHE1\n" + raw[len(MAGIC) :],
        "empty_file": b"",
        "only_the_magic": MAGIC,
    }[how]


DAMAGES = [
    "payload_cut_short",
    "payload_grown",
    "payload_altered_same_length",
    "header_claims_2_62_bytes",
    "header_claims_zero_bytes",
    "header_claims_more_than_the_file",
    "header_cut_mid_way",
    "header_not_json",
    "header_a_json_list",
    "header_not_utf8",
    "header_nested_too_deep",
    "header_without_checksum",
    "header_checksum_a_number",
    "header_length_a_string",
    "an_older_cache_layout",
    "empty_file",
    "only_the_magic",
]


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("value", [b"\x89PNG thumbnail bytes", {"grade": "good", "rms": 1.5}])
def test_a_damaged_entry_is_a_miss_then_rebuilt(cache, src, how, value):
    source_before = _digest(src)
    cache.put("k", src, {"p": 1}, value)
    entry = _entry(cache)
    raw, header, payload = _parts(entry)
    entry.write_bytes(_damage_bytes(raw, header, payload, how))
    assert cache.get("k", src, {"p": 1}) is None  # a miss, not an exception
    assert list(cache.entries()) == [] or how.startswith("payload_altered")
    calls = []

    def compute():
        calls.append(1)
        return value

    assert cache.get_or_compute("k", src, {"p": 1}, compute) == value and calls == [1]
    assert cache.get("k", src, {"p": 1}) == value  # rebuilt: verified again
    assert cache.get_or_compute("k", src, {"p": 1}, compute) == value and calls == [1]
    assert _digest(src) == source_before


def test_stats_and_prune_survive_damaged_entries(cache, src, tmp_path):
    other = tmp_path / "other.dat"
    other.write_bytes(b"x")
    cache.put("k", src, {}, b"good")
    cache.put("k", other, {}, b"to be damaged")
    damaged = next(e for e in cache.root.rglob("*.entry") if e.read_bytes().endswith(b"damaged"))
    damaged.write_bytes(damaged.read_bytes()[:-4])
    assert cache.stats()["n_entries"] == 1
    assert cache.damaged() == [damaged]
    assert cache.prune() == 1 and not damaged.exists()
    assert cache.get("k", src, {}) == b"good"


def test_an_entry_that_is_a_directory_is_a_miss(cache, src):
    cache.put("k", src, {}, b"v")
    entry = _entry(cache)
    entry.unlink()
    entry.mkdir()
    assert cache.get("k", src, {}) is None
    assert cache.stats()["n_entries"] == 0


def test_a_verified_value_of_another_shape_is_recomputed(cache, src):
    cache.put("k", src, {}, {"unexpected": "shape"})

    def decode(d):
        return d["grade"]  # KeyError on the old shape

    def encode(grade):
        return {"grade": grade}

    got = cache.get_or_compute("k", src, {}, lambda: "good", encode=encode, decode=decode)
    assert got == "good"
    assert cache.get("k", src, {}) == {"grade": "good"}


@pytest.fixture()
def cli_env(demo_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(demo_dir / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state" / "products"


def _run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("how", ["payload_altered_same_length", "header_claims_2_62_bytes"])
def test_qa_from_a_damaged_cache_is_the_fresh_answer(cli_env, truth, capsys, how):
    """A cached QA record altered on disk (the right shape, other numbers) is never served."""
    image = Path(truth["images"][0]["path"])
    before = _digest(image)
    code, fresh, err = _run(capsys, "qa", "image", image, "--json")
    assert code == 0, err
    cache = ProductCache(cli_env)
    (entry,) = [e for e, m in cache.entries() if m["kind"] == "qa.image"]
    raw, header, payload = _parts(entry)
    if how == "payload_altered_same_length":
        record = json.loads(payload)
        record["grade"] = record["grade"].upper()  # the right shape, a wrong answer
        forged = json.dumps(record).encode()
        assert len(forged) == len(payload) and forged != payload
        entry.write_bytes(_rebuild(header, forged))
    else:
        entry.write_bytes(_damage_bytes(raw, header, payload, how))
    code, again, err = _run(capsys, "qa", "image", image, "--json")
    assert code == 0 and not err and json.loads(again) == json.loads(fresh)
    assert _digest(image) == before


def test_a_cache_root_that_is_a_file_costs_only_the_caching(cli_env, truth, capsys):
    cli_env.parent.mkdir(parents=True)
    cli_env.write_text("not a directory")
    image = Path(truth["images"][0]["path"])
    code, out, err = _run(capsys, "qa", "image", image, "--json")
    assert code == 0, err
    assert json.loads(out)["grade"] in ("good", "warning", "bad")
    assert cli_env.read_text() == "not a directory"


def test_the_entry_header_records_length_and_checksum(cache, src):
    cache.put("k", src, {}, b"payload")
    _, header, payload = _parts(_entry(cache))
    assert header["payload_bytes"] == len(payload) == 7
    assert header["payload_sha256"] == hashlib.sha256(b"payload").hexdigest()
    assert os.path.getsize(_entry(cache)) > len(payload)
