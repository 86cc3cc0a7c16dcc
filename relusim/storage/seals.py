"""Seals: SHA-256 digests that let an HDF5 file prove its own integrity (CONTRACT.md, "Damaged data
is detected and never used"). Written once, used by every kind of file relusim writes: the result
files of ``relusim anneal`` (``relusim.storage.results``) and the capacity files of ``relusim
capacity`` (``relusim.storage.capacity_file``).

* ``seal_bound(g, binding)``: the digest of every dataset (dtype, shape, bytes) and every attribute
  under a group, together with what it belongs to (a sample's index, seed and config hash; a capacity
  group's plan hash, K and N), stored as the group's ``sha256`` attribute; ``check_digest`` recomputes it.
* ``write_manifest`` / ``read_manifest``: the root's ``/manifest`` lists every sealed group (by a key:
  a sample index, a group path) with its digest, and a digest of every root attribute; the manifest
  itself is sealed over all of that. A file whose groups were deleted, added, replaced, or whose root
  attributes were edited after sealing no longer matches it.

They detect accidents and careless edits, not forgery: anyone can recompute them.
"""
from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np

from ..errors import DataError

DIGEST_ATTR = "sha256"  # JSON {dataset path: sha256, "@attrs": sha256, "@<binding>": ...}, on every sealed group
UNSEALED_ATTRS = {DIGEST_ATTR, "wall_s"}  # wall_s: a timing, the one attribute two identical runs differ in
SCHEMA_VERSION = 3
SCHEMA_ATTR = "schema_version"
MANIFEST = "manifest"  # /manifest: keys (n,), sha256 (n,) S64; attrs: a header, root_sha256, sha256 (its seal)
INT_HEADER = ("schema_version", "seed")  # manifest header values read as integers; every other as text


def bytes_of(value) -> bytes:
    a = np.asarray(value)
    if a.dtype.kind in "OUS":
        return repr(a.tolist()).encode()
    return a.dtype.str.encode() + repr(a.shape).encode() + np.ascontiguousarray(a).tobytes()


def _attrs_bytes(obj) -> bytes:
    return b"".join(key.encode() + b"\0" + bytes_of(obj.attrs[key]) + b"\0"
                    for key in sorted(obj.attrs) if key not in UNSEALED_ATTRS)


def attrs_digest(obj) -> str:
    """Schema 2: the attributes of ``obj`` itself."""
    return hashlib.sha256(_attrs_bytes(obj)).hexdigest()


def tree_digest(g: h5py.Group) -> str:
    """Schema 3: the attributes of ``g`` and the name, kind and attributes of every object under it."""
    h = hashlib.sha256(b"/\0" + _attrs_bytes(g))
    names: list[str] = []
    g.visit(names.append)
    for name in sorted(names):
        obj = g[name]
        kind = b"D" if isinstance(obj, h5py.Dataset) else b"G"
        h.update(name.encode() + b"\0" + kind + b"\0" + _attrs_bytes(obj))
    return h.hexdigest()


def datasets(g: h5py.Group) -> list[str]:
    names: list[str] = []
    g.visit(lambda name: names.append(name) if isinstance(g[name], h5py.Dataset) else None)
    return sorted(names)


def dataset_digest(d: h5py.Dataset) -> str:
    return hashlib.sha256(bytes_of(d[()])).hexdigest()


def text_digest(text: str) -> str:
    return hashlib.sha256(str(text).encode()).hexdigest()


def seal(g: h5py.Group) -> None:
    """Schema 2: store the sha256 of every dataset (and of the attributes) of ``g`` in ``g.attrs["sha256"]``."""
    digest = {name: dataset_digest(g[name]) for name in datasets(g)}
    digest["@attrs"] = attrs_digest(g)
    g.attrs[DIGEST_ATTR] = json.dumps(digest, sort_keys=True)


def seal_bound(g: h5py.Group, binding: dict) -> str:
    """Schema 3: seal ``g`` (every dataset, every attribute under it) together with ``binding`` (what it
    belongs to: a sample's index, seed and config hash; a capacity group's plan hash, K and N); returns
    its digest, the sha256 of the seal."""
    digest = {name: dataset_digest(g[name]) for name in datasets(g)}
    digest["@attrs"] = tree_digest(g)
    digest["@schema"] = SCHEMA_VERSION
    digest.update({"@" + k: v for k, v in binding.items()})
    text = json.dumps(digest, sort_keys=True)
    g.attrs[DIGEST_ATTR] = text
    return text_digest(text)


def digest_of(g: h5py.Group) -> str | None:
    """A sealed group's digest (what the manifest lists): the sha256 of its ``sha256`` attribute."""
    raw = g.attrs.get(DIGEST_ATTR)
    return None if raw is None else text_digest(raw.decode() if isinstance(raw, bytes) else raw)


def load_digest(g: h5py.Group) -> dict | None:
    """The seal of ``g`` as a mapping (None: unsealed); ValueError if it is not one."""
    raw = g.attrs.get(DIGEST_ATTR)
    if raw is None:
        return None
    digest = json.loads(raw)
    if not isinstance(digest, dict):
        raise ValueError("not a mapping")
    return digest


def binding_mismatch(digest: dict, binding: dict) -> str | None:
    """The first key of ``binding`` whose sealed value differs from it (None: the seal is bound to it)."""
    for key, want in binding.items():
        if digest.get("@" + key) != want:
            return key
    return None


def check_digest(g: h5py.Group, digest: dict, deep: bool = True) -> str | None:
    """Compare ``g``'s datasets and attributes with a loaded seal (either schema)."""
    names = datasets(g)
    listed = {k for k in digest if not k.startswith("@")}
    missing = sorted(listed - set(names))
    if missing:
        return f"dataset {missing[0]} is missing"
    for name in names:
        if name not in listed:
            return f"dataset {name} carries no checksum"
    if not deep:
        return None
    attrs_fn = tree_digest if "@schema" in digest else attrs_digest
    try:
        if attrs_fn(g) != digest.get("@attrs"):
            return "checksum mismatch in its attributes"
    except Exception:  # noqa: BLE001
        return "unreadable attributes"
    for name in names:
        try:
            ok = dataset_digest(g[name]) == digest[name]
        except Exception:  # noqa: BLE001 - a damaged chunk, a failed filter: unreadable data
            return f"unreadable data in {name}"
        if not ok:
            return f"checksum mismatch in {name}"
    return None


def check_group(g: h5py.Group) -> str | None:
    """None if every checksum of ``g`` holds; else what is wrong (``checksum mismatch in weights``).

    A group without checksums passes: callers decide whether its schema allows that.
    """
    try:
        digest = load_digest(g)
        if digest is None:
            return None
        return check_digest(g, digest)
    except Exception as exc:  # noqa: BLE001 - damaged metadata of any kind
        return f"unreadable ({type(exc).__name__})"


def declared_schema(f: h5py.File) -> tuple[int, list[str]] | None:
    """(the schema a file's ``schema_version`` says it follows, [what is wrong with it]); None when it
    has none (a file written before schema 3, or one whose attribute was removed: the caller tells).
    A value that is not one relusim writes is read as this schema and reported; a newer one is refused."""
    raw = f.attrs.get(SCHEMA_ATTR)
    if raw is None:
        return None
    if isinstance(raw, (bool, np.bool_)) or not isinstance(raw, (int, np.integer)):
        return SCHEMA_VERSION, [f"schema_version {raw!r} is not an integer (damaged)"]
    if int(raw) > SCHEMA_VERSION:
        raise DataError(f"schema_version {int(raw)}: written by a newer relusim (this one reads schemas 1 "
                        f"to {SCHEMA_VERSION}); upgrade relusim to read it")
    if int(raw) == SCHEMA_VERSION:
        return SCHEMA_VERSION, []
    return SCHEMA_VERSION, [f"schema_version {int(raw)} is not one relusim writes (edited or damaged)"]


# ------------------------------------------------------------------------------ manifest --


def root_digests(f: h5py.File) -> dict[str, str]:
    return {k: hashlib.sha256(bytes_of(f.attrs[k])).hexdigest() for k in sorted(f.attrs)}


def _key_text(key) -> str:
    if isinstance(key, bytes):
        return key.decode()
    return key if isinstance(key, str) else str(int(key))


def _manifest_seal(header: dict, keys, digests) -> str:
    h = hashlib.sha256(json.dumps(header, sort_keys=True).encode() + b"\n")
    for k, d in zip(keys, digests):
        h.update(f"{_key_text(k)} {d.decode() if isinstance(d, bytes) else d}\n".encode())
    return h.hexdigest()


def write_manifest(f: h5py.File, entries: dict, header: dict, keys: str = "index") -> None:
    """(Re)write ``/manifest`` of an open file: the dataset ``keys`` (sample indices as int64, or group
    paths as ASCII) and ``sha256``, each entry's digest, in key order; attributes ``header`` (values of
    ``INT_HEADER`` as integers, the rest as text), ``root_sha256`` (a digest of every root attribute,
    as they are now) and ``sha256``, the seal over all of it. Call it last, after every other change."""
    if MANIFEST in f:
        del f[MANIFEST]
    m = f.create_group(MANIFEST)
    names = sorted(entries)
    if names and isinstance(names[0], str):
        m.create_dataset(keys, data=np.array([n.encode() for n in names], dtype="S"))
    else:
        m.create_dataset(keys, data=np.array(names, np.int64), dtype=np.int64)
    m.create_dataset("sha256", data=np.array([entries[k] for k in names], dtype="S64"), dtype="S64")
    header = {**header, "root_sha256": json.dumps(root_digests(f), sort_keys=True)}
    m.attrs.update(header)
    m.attrs[DIGEST_ATTR] = _manifest_seal(header, names, [entries[k] for k in names])


def read_manifest(f: h5py.File, header_keys, keys: str = "index") -> tuple[dict | None, list[str]]:
    """({key: digest} of a manifest whose seal holds, else None; [what is wrong with it or with the
    root attributes it seals]). ``header_keys``: the attributes its writer sealed besides
    ``root_sha256``; ``keys``: its dataset of keys (integers, or text for ASCII keys)."""
    if MANIFEST not in f:
        return None, ["is missing (a file of schema 3 always carries one)"]
    try:
        m = f[MANIFEST]
        header = {k: int(m.attrs[k]) if k in INT_HEADER else str(m.attrs[k]) for k in header_keys}
        header["root_sha256"] = str(m.attrs["root_sha256"])
        raw = m[keys][()]
        index = [k.decode() if isinstance(k, bytes) else int(k) for k in raw]
        digests = [d.decode() for d in m["sha256"][()]]
        seal_ = m.attrs[DIGEST_ATTR]
    except Exception as exc:  # noqa: BLE001 - any damage of its metadata or data
        return None, [f"is unreadable ({type(exc).__name__})"]
    if len(index) != len(digests) or _manifest_seal(header, index, digests) != seal_:
        return None, ["fails its seal (edited or damaged)"]
    if len(set(index)) != len(index):
        return None, [f"lists {'a sample' if keys == 'index' else 'a group'} twice"]
    problems = []
    try:
        sealed = json.loads(header["root_sha256"])
        now = root_digests(f)
        changed = sorted(k for k in set(sealed) | set(now) if sealed.get(k) != now.get(k))
    except Exception as exc:  # noqa: BLE001
        changed, problems = [], [f"cannot be compared with the root attributes ({type(exc).__name__})"]
    if changed:
        what = ", ".join(("removed " if k not in now else "added " if k not in sealed else "") + k for k in changed[:4])
        problems.append(f"does not match the root attributes: {what}{' ...' if len(changed) > 4 else ''} "
                        "changed after it was sealed")
    return dict(zip(index, digests)), problems


def against_manifest(manifest: dict | None, key, digest: str | None) -> str | None:
    """Why a group that passed its own seal is still not trusted, or None: its key or digest is not the
    manifest's (a file without a manifest, ``None``, has nothing to say here)."""
    if manifest is None:
        return None
    if key not in manifest:
        return "is not in the manifest (added after the file was sealed)"
    if manifest[key] != digest:
        return "does not match its digest in the manifest (replaced after the file was sealed)"
    return None
