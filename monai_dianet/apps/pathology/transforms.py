# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Patch transforms for whole-slide training and inference: annotation masks of patches, HED stain jitter and
Macenko stain normalisation of channel-first patches.

- :class:`PatchAnnotationMaskd` rasterises the slide's ASAP polygons on the patch's own pixel grid (exact at any
  resolution, no slide-sized mask) and derives the patch label.
- :class:`RandHEDJitter` is the HED colour augmentation of Tellez et al., "Whole-Slide Mitosis Detection in H&E
  Breast Histology Using PHH3 as a Reference to Train Distilled Stain-Invariant Convolutional Networks", IEEE TMI
  37(9), 2018, doi:10.1109/TMI.2018.2820199 (MONAI has no HED jitter), in the stain space of scikit-image's
  ``rgb2hed`` (Ruifrok & Johnston's matrices) but without its clamping of negative stain amounts, so that no
  jitter is an exact identity.
- :class:`MacenkoNormalize` wraps MONAI's ``NormalizeHEStains`` (Macenko et al. 2009), which takes ``(H, W, 3)``
  uint8 and fails on patches without stain, for ``(3, H, W)`` patches of a slide, which are often mostly glass.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.apps.pathology.transforms import NormalizeHEStains
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform, Transform
from monai.utils import WSIPatchKeys, convert_to_dst_type
from skimage.color import hed_from_rgb, rgb_from_hed

from monai_dianet.apps.pathology.annotations import load_annotation

__all__ = [
    "PatchAnnotationMaskd",
    "PatchMetaToKeysd",
    "RandHEDJitter",
    "RandHEDJitterd",
    "MacenkoNormalize",
    "MacenkoNormalized",
    "centre_label",
]


def centre_label(mask: np.ndarray | torch.Tensor) -> float:
    """Patch label: 1.0 when the central half (in each dimension) of a ``(..., H, W)`` mask has tumour.

    The PatchCamelyon convention (a positive patch has tumour in its centre region), with the centre half of the
    side rather than PCam's third so that small patches still have a useful centre.
    """
    h, w = mask.shape[-2:]
    return float((mask[..., h // 4 : h - h // 4, w // 4 : w - w // 4] > 0).any())


class PatchAnnotationMaskd(MapTransform):
    """Tumour mask of a whole-slide patch, rasterised from its slide's ASAP XML, and the patch label.

    Reads the patch's level-0 ``location`` (top-left ``(row, col)``), level-0 ``extent`` and ``annotation`` path from
    the image's metadata (as :func:`~monai_dianet.apps.pathology.data.patch_dataset` stores them), rasterises the
    tumour polygons minus the exclusion polygons on a ``(size, size)`` grid covering the patch, and writes
    ``mask_key`` (``(1, size, size)`` float32, 1 = tumour) and ``label_key`` (:func:`centre_label`, shape ``(1,)``).
    Patches of slides without annotation get an empty mask.

    Args:
        keys: the image key (one key).
        size: side of the output mask (the patch side after resizing to the working resolution).
        mask_key: output key of the mask.
        label_key: output key of the patch label.
        allow_missing_keys: as in MONAI.

    Example::

        >>> t = PatchAnnotationMaskd("image", size=64)
        >>> out = t(dataset_item)  # out["mask"]: (1, 64, 64), out["label"]: tensor([0.]) or tensor([1.])
    """

    def __init__(
        self,
        keys: KeysCollection,
        size: int,
        mask_key: str = "mask",
        label_key: str = "label",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.size = int(size)
        self.mask_key = mask_key
        self.label_key = label_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            meta = d[key].meta if isinstance(d[key], MetaTensor) else d.get(f"{key}_meta_dict", {})
            try:
                location = np.asarray(meta[WSIPatchKeys.LOCATION.value], dtype=np.float64).reshape(-1)[:2]
                extent = float(np.asarray(meta["extent"]).reshape(-1)[0])
                annotation = meta.get("annotation", "")
            except KeyError as exc:
                raise KeyError(
                    f"{key} has no {exc} in its metadata: PatchAnnotationMaskd needs patches from patch_dataset()."
                ) from None
            annotation = annotation[0] if isinstance(annotation, (list, tuple)) else annotation
            mask = np.zeros((self.size, self.size), dtype=np.float32)
            if annotation:
                mask = load_annotation(str(annotation)).mask(mask.shape, extent / self.size, location)
            d[self.mask_key] = torch.as_tensor(mask, dtype=torch.float32)[None]
            d[self.label_key] = torch.tensor([centre_label(mask)], dtype=torch.float32)
        return d


class PatchMetaToKeysd(MapTransform):
    """Move a patch's slide name and level-0 location from its ``MetaTensor`` metadata into plain keys, and make the
    image a plain tensor.

    Every later transform, the collation and the network then work on plain tensors: with ``MetaTensor`` each
    operation goes through metadata bookkeeping (measured: about 5 ms per patch for an identity ``Resized``, and
    about half of DIANet's CPU inference time). :class:`~monai_dianet.apps.pathology.handlers.SlideHeatmapHandler`
    reads the two keys.

    Args:
        keys: the image key (one key).
        name_key, location_key: output keys of the slide name and the ``(row, col)`` location (a long tensor).
    """

    def __init__(
        self, keys: KeysCollection, name_key: str = "name", location_key: str = "location",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.name_key, self.location_key = name_key, location_key

    def __call__(self, data):
        d = dict(data)
        for key in self.key_iterator(d):
            image = d[key]
            if isinstance(image, MetaTensor):
                d[self.name_key] = str(image.meta["name"])
                location = np.asarray(image.meta[WSIPatchKeys.LOCATION.value]).reshape(-1)[:2]
                d[self.location_key] = torch.as_tensor(location.astype(np.int64))
                d[key] = image.as_tensor()
        return d


class RandHEDJitter(RandomizableTransform):
    """Random HED stain jitter of an RGB patch (Tellez et al. 2018).

    The patch is deconvolved into hematoxylin, eosin and DAB amounts (scikit-image's stain space:
    ``hed = (log(rgb) / log(1e-6)) @ hed_from_rgb``), each stain ``s`` is changed to ``s * a + b`` with
    ``a ~ U(1 - sigma, 1 + sigma)`` and ``b ~ U(-bias, bias)``, and the result recomposed with ``rgb_from_hed``.
    ``sigma = bias = 0.05`` is Tellez's "HED-light".

    Args:
        prob: probability of jittering.
        sigma: range of the multiplicative factor.
        bias: range of the additive shift (optical density).
        max_value: value of full intensity in the input (255 for uint8-range patches, 1 for [0, 1]).

    Returns:
        float32 patch of the input's shape and range, channel-first ``(3, H, W)``.

    Example::

        >>> jitter = RandHEDJitter(prob=1.0, sigma=0.05, bias=0.05)
        >>> out = jitter(patch)  # patch: (3, H, W) in [0, 255]
    """

    def __init__(self, prob: float = 1.0, sigma: float = 0.05, bias: float = 0.05, max_value: float = 255.0) -> None:
        RandomizableTransform.__init__(self, prob)
        if sigma < 0 or bias < 0 or max_value <= 0:
            raise ValueError(f"sigma and bias must be >= 0 and max_value > 0, got {sigma}, {bias}, {max_value}.")
        self.sigma, self.bias, self.max_value = float(sigma), float(bias), float(max_value)
        self._alpha = np.ones(3)
        self._beta = np.zeros(3)

    def randomize(self, data=None) -> None:
        super().randomize(None)
        self._alpha = self.R.uniform(1 - self.sigma, 1 + self.sigma, 3)
        self._beta = self.R.uniform(-self.bias, self.bias, 3)

    def __call__(self, img, randomize: bool = True):
        if randomize:
            self.randomize()
        array = np.asarray(img.detach().cpu() if isinstance(img, torch.Tensor) else img, dtype=np.float32)
        if array.ndim != 3 or array.shape[0] != 3:
            raise ValueError(f"RandHEDJitter expects a (3, H, W) RGB patch, got shape {array.shape}.")
        if not self._do_transform:
            out = array
        else:
            log_scale = np.log(1e-6)
            rgb = np.clip(np.moveaxis(array, 0, -1) / self.max_value, 1e-6, 1.0)
            hed = (np.log(rgb) / log_scale) @ hed_from_rgb * self._alpha + self._beta
            rgb = np.exp((hed @ rgb_from_hed) * log_scale)
            out = np.moveaxis(np.clip(rgb, 0.0, 1.0) * self.max_value, -1, 0).astype(np.float32)
        return convert_to_dst_type(out, img, dtype=torch.float32 if isinstance(img, torch.Tensor) else np.float32)[0]


class RandHEDJitterd(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`RandHEDJitter` (the same random stain change for every key)."""

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 1.0,
        sigma: float = 0.05,
        bias: float = 0.05,
        max_value: float = 255.0,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.jitter = RandHEDJitter(prob=1.0, sigma=sigma, bias=bias, max_value=max_value)

    def set_random_state(self, seed=None, state=None) -> RandHEDJitterd:
        super().set_random_state(seed, state)
        self.jitter.set_random_state(seed, state)
        return self

    def __call__(self, data):
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        self.jitter.randomize()
        for key in self.key_iterator(d):
            d[key] = self.jitter(d[key], randomize=False)
        return d


class MacenkoNormalize(Transform):
    """Macenko stain normalisation (MONAI ``NormalizeHEStains``) of a channel-first RGB patch.

    Patches with fewer than ``min_stained`` of their pixels above MONAI's absorbance threshold (``beta``) in every
    channel are mostly glass: no stain vectors can be estimated from them, and they are returned unchanged.

    Args:
        min_stained: minimum fraction of stained pixels to normalise.
        kwargs: arguments of MONAI's ``NormalizeHEStains`` (``tli``, ``alpha``, ``beta``, ``target_he``,
            ``max_cref``).

    Returns:
        float32 patch ``(3, H, W)`` in [0, 255].
    """

    def __init__(self, min_stained: float = 0.05, **kwargs) -> None:
        self.min_stained = float(min_stained)
        self.normalizer = NormalizeHEStains(**kwargs)

    def __call__(self, img):
        array = np.asarray(img.detach().cpu() if isinstance(img, torch.Tensor) else img, dtype=np.float32)
        if array.ndim != 3 or array.shape[0] != 3:
            raise ValueError(f"MacenkoNormalize expects a (3, H, W) RGB patch, got shape {array.shape}.")
        rgb = np.clip(np.moveaxis(array, 0, -1), 0, 255).astype(np.uint8)
        extractor = self.normalizer.stain_extractor
        absorbance = -np.log((rgb.reshape(-1, 3).astype(np.float32) + 1.0).clip(max=extractor.tli) / extractor.tli)
        out = array
        if np.all(absorbance > extractor.beta, axis=1).mean() >= self.min_stained:
            out = np.moveaxis(self.normalizer(rgb), -1, 0).astype(np.float32)
        return convert_to_dst_type(out, img, dtype=torch.float32 if isinstance(img, torch.Tensor) else np.float32)[0]


class MacenkoNormalized(MapTransform):
    """Dictionary version of :class:`MacenkoNormalize`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False, **kwargs) -> None:
        super().__init__(keys, allow_missing_keys)
        self.normalize = MacenkoNormalize(**kwargs)

    def __call__(self, data):
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.normalize(d[key])
        return d
