"""Image encoders for captioning: an image in, a grid of L feature vectors out.

Dimension letters: B batch, C channels, P pixels per side, Gh x Gw the feature grid, L = Gh*Gw grid
cells, D feature size.

Two kinds, one interface (``forward(images: (B, 3, P, P)) -> (B, L, D)``, cells in row-major
order, and ``grid``: the ``(Gh, Gw)`` of the last forward pass):

- ``small``: a CNN of ours, trained end to end with the decoder. Each stage is a 3x3 convolution
  with stride 2, batch norm and ReLU, so a 56-pixel image gives a 7x7 grid after three stages;
  a last 3x3 convolution maps it to D. ``coords`` appends two channels holding each pixel's
  x and y in [-1, 1] to the input (CoordConv, Liu et al. 2018): a grid cell's feature then says
  where it is, which a caption with "left of" / "above" needs once attention has pooled the cells.
  The receptive field (31 pixels for three stages) stays near a cell (8 pixels) and its
  neighbours, so attention on a cell is attention on that part of the image.
- ``torchvision``: a torchvision classification backbone (``resnet18``, ``resnet50``, ``vgg16``...)
  cut before its pooling and classifier, with weights read from a local file the user names
  (``.safetensors``, or a ``torch.save`` file read with ``weights_only=True``: nothing is
  downloaded, nothing is unpickled). Frozen (a fixed feature extractor, kept in eval mode, as in
  Show, attend and tell) or fine-tuned. Optionally pooled to a fixed grid, then a 1x1 convolution
  to D. torchvision is optional: asking for this kind without it raises a
  :class:`~rnnlab.errors.UserError`.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

from rnnlab.errors import ConfigError, UserError

#: ImageNet statistics: torchvision's pretrained weights expect inputs normalised by them
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SmallCNN(nn.Module):
    """``len(channels)`` stages of conv3x3 with stride 2 -> batch norm -> ReLU, then a conv3x3
    to D at the grid's resolution and a batch norm.

    Input ``(B, 3, P, P)`` in [0, 1]; output ``(B, D, P / 2^k, P / 2^k)`` for k stages.
    Strided convolutions (not a stride-1 convolution and a max-pool) compute every stage at its
    output resolution: four times less work and memory traffic at the full-size first stage,
    which dominates a CPU step. The receptive field is 31 pixels for three stages (15 for the
    stages, 16 more for the last 3x3 over 8-pixel cells): a cell's vector describes that cell and
    its neighbours, not the whole image.
    """

    def __init__(self, channels: list[int], out_size: int, coords: bool = True):
        super().__init__()
        self.coords = coords
        layers: list[nn.Module] = []
        c_in = 3 + (2 if coords else 0)
        for c in channels:
            layers += [
                nn.Conv2d(c_in, c, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
            ]
            c_in = c
        self.body = nn.Sequential(*layers)
        # batch norm on the output: the rare object cells then stand out from the background by
        # several standard deviations from the first step, so the mean feature (the decoder's
        # initial state) and the first, near-uniform attention already carry what is in the
        # image; unnormalised, that signal is diluted ~1/L and took ~10x more steps to be used.
        self.head = nn.Sequential(nn.Conv2d(c_in, out_size, 3, padding=1), nn.BatchNorm2d(out_size))

    def forward(self, x):
        B, _, P_h, P_w = x.shape
        x = x - 0.5  # centre the pixels
        if self.coords:
            ys = torch.linspace(-1, 1, P_h, device=x.device, dtype=x.dtype)
            xs = torch.linspace(-1, 1, P_w, device=x.device, dtype=x.dtype)
            grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"))  # (2, P, P): x then y
            x = torch.cat([x, grid.expand(B, -1, -1, -1)], dim=1)  # (B, 5, P, P)
        return self.head(self.body(x))


def _import_torchvision():
    try:
        return importlib.import_module("torchvision")
    except ImportError:
        raise UserError(
            'model.encoder = "torchvision" needs torchvision, which is not installed; install '
            'the build that matches your torch (see pytorch.org), or use model.encoder = "small"'
        ) from None


def load_weights_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a local file, never unpickling arbitrary objects: ``.safetensors``
    through safetensors, anything else through ``torch.load(weights_only=True)``.

    Raises:
        UserError: the file is missing or holds something other than tensors.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"backbone weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt or unsafe file: say which and why
        raise UserError(f"cannot read backbone weights {path}: {type(e).__name__}: {e}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise UserError(f"{path}: expected a state dict of tensors")
    return state


def _truncate(name: str, model: nn.Module) -> nn.Module:
    """The convolutional trunk of a torchvision classifier (its last feature map)."""
    if name.startswith(("resnet", "resnext", "wide_resnet")):
        return nn.Sequential(*list(model.children())[:-2])  # drop avgpool and fc
    if name.startswith("vgg"):
        return model.features[:-1]  # drop the last max-pool: 14x14 for 224 pixels, as the paper
    if isinstance(getattr(model, "features", None), nn.Module):
        return model.features  # densenet, mobilenet, efficientnet, convnext...
    raise UserError(
        f"model.backbone = {name!r}: cannot find its convolutional trunk; use a resnet, vgg, "
        "densenet, mobilenet, efficientnet or convnext"
    )


class Backbone(nn.Module):
    """A torchvision backbone's trunk (see the module docstring).

    Args:
        name: a torchvision model name (``torchvision.models.get_model``).
        weights: the local weights file of the whole classifier (empty: random weights, only
            sensible with ``finetune``).
        finetune: train the backbone too; else it is frozen and stays in eval mode.
    """

    def __init__(self, name: str, weights: str = "", finetune: bool = False):
        super().__init__()
        tv = _import_torchvision()
        try:
            model = tv.models.get_model(name, weights=None)
        except (ValueError, KeyError) as e:
            raise UserError(f"model.backbone = {name!r}: not a torchvision model ({e})") from None
        if weights:
            state = load_weights_file(weights)
            try:
                model.load_state_dict(state)
            except RuntimeError as e:
                raise UserError(
                    f"{weights} does not fit torchvision's {name}: {str(e)[:400]}"
                ) from None
        elif not finetune:
            raise ConfigError(
                "a frozen backbone needs pretrained weights: set model.backbone_weights to a "
                "local file, or model.finetune = true to train it from scratch"
            )
        self.trunk = _truncate(name, model)
        self.finetune = finetune
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if not finetune:
            for p in self.trunk.parameters():
                p.requires_grad_(False)
        with torch.no_grad():
            was = self.trunk.training
            self.trunk.eval()
            self.out_channels = int(self.trunk(torch.zeros(1, 3, 64, 64)).shape[1])
            self.trunk.train(was)
        self.train()

    def train(self, mode: bool = True):
        super().train(mode)
        if not self.finetune:
            self.trunk.eval()  # frozen: batch-norm statistics stay those of the weights file
        return self

    def forward(self, x):
        x = (x - self.mean) / self.std
        if self.finetune:
            return self.trunk(x)
        with torch.no_grad():
            return self.trunk(x)


class ImageEncoder(nn.Module):
    """Images to a grid of feature vectors: ``(B, 3, P, P)`` in [0, 1] -> ``(B, L, D)``.

    Args:
        kind: ``"small"`` or ``"torchvision"``.
        feature_size: D.
        channels: the small CNN's stage widths (its grid is P / 2^len(channels)).
        coords: add coordinate channels to the small CNN's input.
        backbone, backbone_weights, finetune: the torchvision backbone (see :class:`Backbone`).
        grid: adaptive-average-pool the feature map to ``grid x grid`` (0: keep it).
    """

    def __init__(
        self,
        kind: str = "small",
        feature_size: int = 128,
        channels: list[int] | tuple[int, ...] = (32, 64, 128),
        coords: bool = True,
        backbone: str = "resnet18",
        backbone_weights: str = "",
        finetune: bool = False,
        grid: int = 0,
    ):
        super().__init__()
        self.kind = kind
        if kind == "small":
            self.net = SmallCNN(list(channels), feature_size, coords)
        elif kind == "torchvision":
            bb = Backbone(backbone, backbone_weights, finetune)
            self.net = nn.Sequential(
                bb, nn.Conv2d(bb.out_channels, feature_size, 1), nn.BatchNorm2d(feature_size)
            )
        else:
            raise ConfigError(f"model.encoder = {kind!r}; valid: small, torchvision")
        self.pool = nn.AdaptiveAvgPool2d(grid) if grid else nn.Identity()
        self.feature_size = feature_size
        self.grid: tuple[int, int] = (0, 0)

    def forward(self, images):
        fmap = self.pool(self.net(images))  # (B, D, Gh, Gw)
        _, D, Gh, Gw = fmap.shape
        self.grid = (Gh, Gw)
        return fmap.flatten(2).transpose(1, 2)  # (B, D, L) -> (B, L, D)

    def grid_for(self, image_size: int) -> tuple[int, int]:
        """The ``(Gh, Gw)`` this encoder gives for ``image_size`` pixels (a dry run)."""
        was = self.training
        self.eval()
        with torch.no_grad():
            p = next(self.parameters())
            self(torch.zeros(1, 3, image_size, image_size, device=p.device, dtype=p.dtype))
        self.train(was)
        return self.grid
