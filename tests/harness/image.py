"""An image as a registry sees it: saved as a docker-archive and unpacked
(manifest.json, the config, one tar per layer), so the checks read the bytes
that ship, not what the engine says of them."""

import functools
import json
import tarfile
from pathlib import Path

from .engine import Engine
from .project import BINARY_PATH

# The runtime stage's base (alpine and distroless; scratch has none): the
# label scripts/build-image.sh records it in (scripts/lib.sh: base_label).
BASE_LABEL = "org.opencontainers.image.base.name"


def extract_all(archive: Path, folder: Path) -> None:
    """ARCHIVE unpacked into FOLDER. Extraction filters came in Python 3.11.4;
    Debian 12's 3.11.2 has none: the archive is the engine's own save of a
    local image."""
    with tarfile.open(archive) as t:
        t.extractall(folder, **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))


class Unpacked:
    def __init__(self, engine: Engine, ref: str, folder: Path):
        self.engine, self.ref, self.dir = engine, ref, folder
        folder.mkdir(parents=True, exist_ok=True)
        self.tar = folder.with_suffix(".tar")
        engine.save(ref, self.tar)
        extract_all(self.tar, folder)
        self.manifest = json.loads((folder / "manifest.json").read_text())[0]
        self.config = json.loads((folder / self.manifest["Config"]).read_text())

    @property
    def layers(self) -> list[Path]:
        """The layer tars, base first."""
        return [self.dir / layer for layer in self.manifest["Layers"]]

    @functools.cached_property
    def members(self) -> dict[Path, list[tarfile.TarInfo]]:
        """Each layer's entries."""
        out = {}
        for layer in self.layers:
            with tarfile.open(layer) as t:
                out[layer] = t.getmembers()
        return out

    def added_layers(self) -> list[Path]:
        """The layers the runtime stage added: those after its base's (the
        base named by the image's label). Fails if the image does not start
        with the base's layers."""
        base = (self.config.get("config", {}).get("Labels") or {}).get(BASE_LABEL)
        diff_ids = self.config["rootfs"]["diff_ids"]
        if not base:
            return self.layers
        if not self.engine.image_exists(base):
            raise AssertionError(f"base image {base} (label {BASE_LABEL}) not found")
        base_layers = self.engine.image_info(base)["RootFS"]["Layers"]
        assert diff_ids[: len(base_layers)] == base_layers, f"the image does not start with the layers of {base}"
        return self.layers[len(base_layers) :]

    def binary_member(self) -> tuple[Path, tarfile.TarInfo] | None:
        """The binary's entry in the topmost layer that holds it."""
        for layer in reversed(self.layers):
            for m in self.members[layer]:
                if m.name.lstrip("./") == BINARY_PATH:
                    return layer, m
        return None

    @functools.cached_property
    def binary(self) -> Path:
        """The binary, extracted to a file beside the layers."""
        found = self.binary_member()
        assert found, f"{BINARY_PATH} not found in any layer of {self.ref}"
        layer, member = found
        out = self.dir.with_suffix(".bin")
        with tarfile.open(layer) as t:
            out.write_bytes(t.extractfile(member).read())
        return out
