"""A fake torch cache holding torchvision's ImageNet ResNet-50 file (random weights, the real file's
name and keys), so tests build the real-data few-shot configs (`backbone_weights: imagenet`) without
a download. Use the `imagenet_cache` fixture (module scope: the 98 MB file is written once per module)."""

from __future__ import annotations

import pytest
import torch
import torchvision


@pytest.fixture(scope="module")
def imagenet_cache(tmp_path_factory):
    hub = tmp_path_factory.mktemp("torch_hub")
    url = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url
    (hub / "checkpoints").mkdir()
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), hub / "checkpoints" / url.rsplit("/", 1)[-1])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.hub, "get_dir", lambda: str(hub))
        mp.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("tests never download"))
        yield hub
