r"""BigGAN as a target expert, through the PyPI package ``pytorch-pretrained-biggan``.

The paper's Sec. 4.1 translates BERT's sentence codes into BigGAN's latent space
:math:`z_\Theta' = [\tilde z, Wc]` (supplement Eq. 23): the noise :math:`\tilde z` and the class
embedding :math:`h = Wc` of a one-hot ImageNet class :math:`c`, where W is the generator's own
``embeddings`` layer. :class:`BigGAN` exposes exactly that: ``encode`` maps the generator's
inputs ``[z̃, c]`` to ``[z̃, Wc]``, ``decode`` maps any ``[z̃, h]`` to images in [0, 1] (so a
dequantised :math:`\hat h`, Eq. 24, can be decoded), :attr:`~BigGAN.class_embedding_matrix`
is W, and ``truncation`` is BigGAN's truncation trick.

**Where the weights come from.** :func:`load_biggan` calls the package's
``BigGAN.from_pretrained(name_or_dir)``:

* a *folder* with ``config.json`` and ``pytorch_model.bin`` (what ``from_pretrained`` reads) —
  works offline;
* a *name* (``"biggan-deep-128"``, ``"-256"``, ``"-512"``) — downloaded once into the package's
  cache (``~/.pytorch_pretrained_biggan``, or ``$PYTORCH_PRETRAINED_BIGGAN_CACHE``), then found
  there offline.

The argument defaults to the environment variable ``N2N_BIGGAN`` (a name or a folder), else
``"biggan-deep-128"``. Where the weights cannot be had — no folder, nothing cached, and no network
or ``HF_HUB_OFFLINE=1`` — :class:`BigGANUnavailable` says so and how to get them, instead of a
stack trace from deep inside ``requests``. :func:`biggan_available` asks the same question
without raising and without touching the network, which is what notebook 06 uses to decide
whether it can show the real BigGAN.

>>> import os
>>> biggan_available("/nonexistent/folder")
False
>>> try:
...     load_biggan("/nonexistent/folder")
... except BigGANUnavailable as err:
...     print(str(err).splitlines()[0][:61])
BigGAN weights not found: /nonexistent/folder is not a folder
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from n2nlib import settings
from n2nlib.experts.base import check_latent, freeze

__all__ = [
    "BigGAN",
    "BigGANUnavailable",
    "load_biggan",
    "biggan_available",
    "biggan_source",
    "save_biggan",
    "KNOWN_MODELS",
    "ENV_VAR",
    "DEFAULT_MODEL",
    "truncated_noise",
]

ENV_VAR = "N2N_BIGGAN"
"""The environment variable that names the BigGAN to load (a name or a folder)."""
DEFAULT_MODEL = "biggan-deep-128"
KNOWN_MODELS = ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512")
"""The names ``pytorch-pretrained-biggan`` can download."""
_WEIGHTS, _CONFIG = "pytorch_model.bin", "config.json"
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "N2N_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}


def truncated_noise(
    n: int, dim: int, truncation: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """BigGAN's noise: a standard normal truncated to [-2, 2], times ``truncation``.

    Arguments:
        n: number of rows.
        dim: noise size.
        truncation: the truncation trick's scale in (0, 1] (lower: more typical, less diverse).
        generator: for reproducible draws.

    Returns:
        ``(n, dim)`` float32 on the CPU.

    >>> z = truncated_noise(1000, 4, 0.5, torch.Generator().manual_seed(0))
    >>> bool(z.abs().max() <= 1.0)
    True
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    if not (isinstance(truncation, int | float) and 0 < truncation <= 1):
        raise ValueError(f"truncation must be in (0, 1], got {truncation!r}")
    z = torch.empty(n, dim)
    if n:
        torch.nn.init.trunc_normal_(z, 0.0, 1.0, -2.0, 2.0, generator=generator)
    return z * truncation


class BigGANUnavailable(OSError):
    """BigGAN's weights cannot be found here (and cannot, or may not, be downloaded)."""


def _how_to_get() -> str:
    return (
        "To use the real BigGAN, on a machine with internet run\n"
        "    python -c \"from n2nlib.experts.biggan import save_biggan; "
        "save_biggan('biggan-deep-128', 'biggan-deep-128')\"\n"
        "and copy the folder it writes (config.json + pytorch_model.bin, about 200 MB) here; "
        f"then set {ENV_VAR}=/path/to/biggan-deep-128 (or pass the folder to load_biggan). "
        "Everything else in n2nlib works without it (notebook 06 uses the offline "
        "shapes-generator instead)."
    )


def biggan_source(name_or_dir: str | os.PathLike | None = None) -> str:
    """The BigGAN to load: the argument, else ``$N2N_BIGGAN``, else ``"biggan-deep-128"``.

    >>> biggan_source("biggan-deep-256")
    'biggan-deep-256'
    """
    if name_or_dir is not None:
        if not isinstance(name_or_dir, str | os.PathLike):
            raise TypeError(f"name_or_dir must be a model name or a folder, got "
                            f"{type(name_or_dir).__name__}")
        return os.fspath(name_or_dir)
    return os.environ.get(ENV_VAR, "").strip() or DEFAULT_MODEL


def _offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in _OFFLINE_VARS)


def _cache_dir() -> Path:
    return Path(os.environ.get("PYTORCH_PRETRAINED_BIGGAN_CACHE",
                               Path.home() / ".pytorch_pretrained_biggan"))


def _cached_file(url: str) -> Path | None:
    """The package's cached download of ``url`` (named by the url's sha256), if any."""
    prefix = hashlib.sha256(url.encode("utf-8")).hexdigest()
    folder = _cache_dir()
    if not folder.is_dir():
        return None
    hits = sorted(p for p in folder.glob(prefix + "*") if not p.name.endswith(".json"))
    return hits[-1] if hits else None


def _archive_urls(name: str) -> tuple[str, str]:
    from pytorch_pretrained_biggan import model as pbg

    return pbg.PRETRAINED_MODEL_ARCHIVE_MAP[name], pbg.PRETRAINED_CONFIG_ARCHIVE_MAP[name]


def _is_folder_source(source: str) -> bool:
    return source not in KNOWN_MODELS


def _folder_ok(folder: Path) -> bool:
    return (folder / _WEIGHTS).is_file() and (folder / _CONFIG).is_file()


def biggan_available(name_or_dir: str | os.PathLike | None = None) -> bool:
    """Whether BigGAN's weights are here, without loading them and without the network.

    True for a folder with ``config.json`` and ``pytorch_model.bin``, or a known name whose two
    files are in the package's download cache.

    Arguments:
        name_or_dir: as :func:`load_biggan`.
    """
    source = biggan_source(name_or_dir)
    if _is_folder_source(source):
        return _folder_ok(Path(source).expanduser())
    try:
        return all(_cached_file(u) is not None for u in _archive_urls(source))
    except ImportError:
        return False


def _reachable(url: str, timeout: float = 3.0) -> bool:
    from urllib.parse import urlparse

    host = urlparse(url).hostname or ""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def load_biggan(
    name_or_dir: str | os.PathLike | None = None, *, allow_download: bool | None = None
) -> nn.Module:
    """Load ``pytorch_pretrained_biggan.BigGAN`` from a folder, the cache, or the internet.

    Arguments:
        name_or_dir: a folder with ``config.json`` + ``pytorch_model.bin``, or a name in
            :data:`KNOWN_MODELS`; default :func:`biggan_source` (``$N2N_BIGGAN``).
        allow_download: may a known name be downloaded? Default: yes, unless one of
            ``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE`` or ``N2N_OFFLINE`` is set.

    Returns:
        The package's ``BigGAN`` module (float32, CPU, eval mode).

    Raises:
        BigGANUnavailable: the weights are not here and cannot be downloaded; the message says
            how to get them.
        ImportError: ``pytorch-pretrained-biggan`` is not installed.
    """
    try:
        from pytorch_pretrained_biggan import BigGAN as PretrainedBigGAN
    except ImportError as err:  # pragma: no cover - it is a dependency
        raise ImportError("BigGAN needs the PyPI package pytorch-pretrained-biggan: "
                          "pip install pytorch-pretrained-biggan") from err
    import logging

    source = biggan_source(name_or_dir)
    told = allow_download is not None  # the caller decided, not the environment
    if allow_download is None:
        allow_download = not _offline()
    if _is_folder_source(source):
        folder = Path(source).expanduser()
        if not _folder_ok(folder):
            raise BigGANUnavailable(
                f"BigGAN weights not found: {folder} is not a folder with {_CONFIG} and "
                f"{_WEIGHTS}.\nKnown names (downloaded when online): {', '.join(KNOWN_MODELS)}."
                f"\n{_how_to_get()}"
            )
        target: str = str(folder)
    else:
        target = source
        if not biggan_available(source):
            why = None
            if not allow_download:
                set_vars = [v for v in _OFFLINE_VARS
                            if os.environ.get(v, "").strip().lower() in _TRUE]
                why = ("the caller asked not to download them (allow_download=False)" if told
                       else f"downloads are switched off ({', '.join(set_vars)} is set)")
            elif not _reachable(_archive_urls(source)[0]):
                why = "the download server cannot be reached (no network?)"
            if why is not None:
                raise BigGANUnavailable(
                    f"BigGAN weights {source!r} are not in the local cache {_cache_dir()} and "
                    f"{why}.\n{_how_to_get()}"
                )
    log = logging.getLogger("pytorch_pretrained_biggan.model")
    level = log.level
    log.setLevel(logging.CRITICAL)  # its own error log would duplicate our message
    try:
        model = PretrainedBigGAN.from_pretrained(target)
    except Exception as err:  # network, S3, unpickling or file errors: one clear message
        raise BigGANUnavailable(
            f"BigGAN weights {source!r} could not be loaded ({type(err).__name__}: "
            f"{str(err)[:200]}).\n{_how_to_get()}"
        ) from None
    finally:
        log.setLevel(level)
    return model.float().eval()


def save_biggan(model: nn.Module | str, folder: str | os.PathLike) -> Path:
    """Write a BigGAN as a folder that :func:`load_biggan` reads offline.

    Arguments:
        model: a ``pytorch_pretrained_biggan.BigGAN`` (or a name/folder to load first, e.g.
            ``"biggan-deep-128"`` on a machine with internet).
        folder: where ``config.json`` and ``pytorch_model.bin`` go (created).

    Returns:
        The folder.
    """
    if isinstance(model, str | os.PathLike):
        model = load_biggan(model)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / _CONFIG).write_text(model.config.to_json_string(), encoding="utf-8")
    torch.save(model.state_dict(), out / _WEIGHTS)
    return out


class BigGAN(nn.Module):
    r"""BigGAN's generator as a target expert: :math:`z_\Theta' = [\tilde z, Wc]` (Eq. 23).

    Arguments:
        model: a ``pytorch_pretrained_biggan.BigGAN``, or a name / folder for
            :func:`load_biggan` (default ``$N2N_BIGGAN`` or ``"biggan-deep-128"``).
        truncation: BigGAN's truncation in (0, 1]; the generator's batch-norm statistics
            depend on it, and :meth:`sample_noise` scales the truncated normal by it.
        device: where the generator runs (default :func:`n2nlib.settings.device`).
        class_names: optional names of the classes (index -> name), for captions.

    Attributes:
        z_dim: size of :math:`\tilde z`; embed_dim: size of :math:`h`; num_classes: K;
        dim: ``z_dim + embed_dim``.

    Raises:
        BigGANUnavailable: the weights cannot be had (see :func:`load_biggan`).
    """

    def __init__(
        self,
        model: nn.Module | str | os.PathLike | None = None,
        *,
        truncation: float = 0.4,
        device: str | torch.device | None = None,
        class_names: dict[int, str] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            self.source = biggan_source(model)
            model = load_biggan(self.source)
        else:
            self.source = None
        if not hasattr(model, "embeddings") or not hasattr(model, "generator"):
            raise TypeError(f"model must be a pytorch_pretrained_biggan.BigGAN, got "
                            f"{type(model).__name__}")
        self.truncation = self._check_truncation(truncation)
        self.model = freeze(model.float()).to(settings.device(device))
        self.z_dim = int(model.config.z_dim)
        self.embed_dim = int(model.embeddings.weight.shape[0])
        self.num_classes = int(model.config.num_classes)
        self.size = int(model.config.output_dim)
        self.dim = self.z_dim + self.embed_dim
        self.class_names = dict(class_names or {})
        self.name = f"BigGAN({self.source or 'module'})"
        freeze(self)

    @staticmethod
    def _check_truncation(truncation: float) -> float:
        if not (isinstance(truncation, int | float) and 0 < truncation <= 1):
            raise ValueError(f"truncation must be in (0, 1], got {truncation!r}")
        return float(truncation)

    @property
    def device(self) -> torch.device:
        return self.model.embeddings.weight.device

    @property
    def class_embedding_matrix(self) -> Tensor:
        """W, ``(embed_dim, num_classes)``: ``h = W c``."""
        return self.model.embeddings.weight

    def one_hot(self, labels: Any) -> Tensor:
        """One-hot class vectors ``(B, num_classes)`` from integer labels ``(B,)``."""
        labels = torch.as_tensor(labels)
        if labels.is_floating_point() or labels.ndim != 1:
            raise TypeError(f"class labels must be integer indices (B,), got {labels.dtype} "
                            f"{tuple(labels.shape)}")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes):
            raise ValueError(f"class labels must be in [0, {self.num_classes - 1}]")
        return torch.nn.functional.one_hot(labels.long(), self.num_classes).float().to(
            self.device)

    @torch.no_grad()
    def embed(self, labels: Any) -> Tensor:
        """``h = W c`` ``(B, embed_dim)`` for integer labels."""
        return self.model.embeddings(self.one_hot(labels))

    def sample_noise(
        self, n: int, truncation: float | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        r"""Truncated-normal :math:`\tilde z` scaled by ``truncation`` (default: the
        expert's), as BigGAN samples it."""
        t = self.truncation if truncation is None else self._check_truncation(truncation)
        return truncated_noise(n, self.z_dim, t, generator).to(self.device)

    @torch.no_grad()
    def latent(self, noise: Tensor, labels: Any) -> Tensor:
        """Eq. (23): ``[z̃, W c]``."""
        noise = check_latent(torch.as_tensor(noise), self.z_dim, "the noise z̃").to(self.device)
        return torch.cat([noise.float(), self.embed(labels)], dim=1)

    @torch.no_grad()
    def encode(self, inputs: Any) -> Tensor:
        """``[z̃, W c]`` from ``(B, z_dim + num_classes)`` rows ``[z̃, c]`` or a pair
        ``(z̃, labels)``."""
        if isinstance(inputs, tuple | list) and len(inputs) == 2:
            return self.latent(*inputs)
        y = check_latent(torch.as_tensor(inputs), self.z_dim + self.num_classes,
                         "the BigGAN inputs [z̃, c]").to(self.device).float()
        return torch.cat([y[:, : self.z_dim], self.model.embeddings(y[:, self.z_dim :])], 1)

    @torch.no_grad()
    def decode(self, z: Tensor, truncation: float | None = None) -> Tensor:
        """Images ``(B, 3, size, size)`` in [0, 1] from ``[z̃, h]`` (any ``h``)."""
        check_latent(z, self.dim, "the latent [z̃, h] given to BigGAN.decode")
        t = self.truncation if truncation is None else self._check_truncation(truncation)
        images = self.model.generator(z.to(self.device).float(), t)
        return ((images + 1.0) / 2.0).clamp(0.0, 1.0)

    def generate(self, noise: Tensor, labels: Any) -> Tensor:
        """Images of classes ``labels`` from ``noise``."""
        return self.decode(self.latent(noise, labels))

    def get_config(self) -> dict[str, Any]:
        """Arguments that rebuild this expert."""
        return {"model": self.source, "truncation": self.truncation}

    def extra_repr(self) -> str:
        return (f"source={self.source!r}, z_dim={self.z_dim}, embed_dim={self.embed_dim}, "
                f"classes={self.num_classes}, truncation={self.truncation}")
