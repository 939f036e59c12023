"""The mmcaps model zoo in mmpretrain's ``ModelHub``.

``import mmcaps`` registers every model of mmcaps' ``model-index.yml``, so
that mmpretrain's ``list_models``, ``get_model``, ``inference_model`` and
``ImageClassificationInferencer`` find mmcaps models by name, from a git
checkout or from an installed wheel.

A model's ``Weights`` in its metafile is either ``null`` (no trained
weights) or a path under ``mmcaps/checkpoints/``: a checkpoint shipped
inside the package, found there wherever the package is installed and
checked against the ``Weights SHA-256`` of the model's ``Metadata``.
``get_model(name, pretrained=True)`` on a model without shipped weights
raises an error that says so, where mmpretrain would only warn and return
random weights. A shipped checkpoint without the reconstruction decoder
(``publish_model.py --drop-decoder``) gives a model built without one.
"""
import hashlib
from pathlib import Path
from typing import List, Optional, Union

from mmengine.config import Config
from mmpretrain.apis import ModelHub
from mmpretrain.apis import list_models as list_all_models
from modelindex.models.Model import Model

from mmcaps.utils.checkpoint import load_checkpoint_file

__all__ = [
    'PACKAGE_ROOT', 'CHECKPOINT_ROOT', 'SHIPPED_PREFIX', 'DECODER_PREFIX',
    'ZooModel',
    'find_model_index', 'list_models', 'register_model_index', 'sha256sum'
]

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
# Shipped checkpoints: package data, in the wheel beside the code.
CHECKPOINT_ROOT = PACKAGE_ROOT / 'checkpoints'
# How a metafile names a shipped checkpoint: its path in the repository.
SHIPPED_PREFIX = 'mmcaps/checkpoints/'
SHA256_KEY = 'Weights SHA-256'
# What publish_model.py --drop-decoder leaves out of a checkpoint.
DECODER_PREFIX = 'head.decoder.'
# The names register_model_index added to ModelHub.
_registered: set = set()


def sha256sum(path: Union[str, Path]) -> str:
    """The SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


class ZooModel(Model):
    """A model-index entry whose ``weights`` is the absolute path of its
    shipped checkpoint.

    Args:
        entry: The entry as ``modelindex`` loaded it (``config`` already
            an absolute path).
        checkpoint_root: The folder that ``mmcaps/checkpoints/`` names.
    """

    def __init__(self, entry: Model, checkpoint_root: Path) -> None:
        super().__init__(
            name=entry.name,
            metadata=entry.metadata,
            results=entry.results,
            paper=entry.paper,
            code=entry.code,
            weights=entry.data.get('Weights'),
            config=entry.config,
            readme=entry.readme,
            in_collection=entry.in_collection,
            image=entry.image,
            _filepath=entry.filepath)
        self.checkpoint_root = Path(checkpoint_root)
        # ModelHub.get replaces ``config`` by the loaded Config.
        self.config_path = str(entry.config)

    @property
    def sha256(self) -> Optional[str]:
        """The checkpoint's SHA-256 from the metafile, if published."""
        metadata = self.metadata.data if self.metadata is not None else {}
        return metadata.get(SHA256_KEY)

    @property
    def weights(self) -> str:
        """The path of the shipped checkpoint, verified.

        mmpretrain reads this only for ``pretrained=True``.

        Raises:
            ValueError: The model has no shipped weights, or the file's
                SHA-256 is not the metafile's.
            FileNotFoundError: The metafile names a checkpoint that the
                installed package lacks.
        """
        weights = self.data.get('Weights')
        readme = Path(self.config_path).parent / 'README.md'
        if weights is None:
            if self.sha256 is not None:
                raise ValueError(
                    f'mmcaps model {self.name!r}: its checkpoint (SHA-256 '
                    f'{self.sha256}) is too large to ship with the package; '
                    f'reproduce it with the command in {readme} and pass '
                    "pretrained='PATH.pth'")
            raise ValueError(
                f'mmcaps model {self.name!r} has no trained weights: train '
                f'it with tools/train.py {self.config_path} and pass '
                "pretrained='PATH.pth', or pretrained=False for random "
                'weights')
        if not weights.startswith(SHIPPED_PREFIX):
            return weights
        path = self.checkpoint_root / weights[len(SHIPPED_PREFIX):]
        if not path.is_file():
            raise FileNotFoundError(
                f'mmcaps model {self.name!r}: its checkpoint {path} is '
                'missing from the installed package; reinstall mmcaps')
        if self.sha256 is not None and sha256sum(path) != self.sha256:
            raise ValueError(
                f'mmcaps model {self.name!r}: {path} does not have the '
                f'SHA-256 of its metafile ({self.sha256}); the file is '
                'damaged or not the published one')
        self._build_without_missing_decoder(path)
        return str(path)

    def _build_without_missing_decoder(self, checkpoint: Path) -> None:
        """Drop the decoder from the config when the checkpoint has none.

        ``get_model(name, pretrained=True)`` reads ``weights`` after it
        took ``config`` (this object's, loaded by ``ModelHub.get``) and
        before it builds the model: built with the decoder, the model would
        load the checkpoint with a warning about every missing
        ``head.decoder.*`` key and keep a randomly initialised decoder.
        """
        if not isinstance(self.config, Config):
            return
        head = self.config.model.get('head')
        if not isinstance(head, dict) or head.get('decoder') is None:
            return
        state_dict = load_checkpoint_file(
            checkpoint, map_location='cpu')['state_dict']
        if not any(key.startswith(DECODER_PREFIX) for key in state_dict):
            head.decoder = None

    @weights.setter
    def weights(self, value: Optional[str]) -> None:
        self.data['Weights'] = value


def find_model_index() -> Path:
    """``model-index.yml``: the one at the root of the checkout that holds
    the package (editable installs, runs from a checkout), else the one in
    ``mmcaps/.mim/`` (wheels, where setup.py's build puts it)."""
    checkout = PACKAGE_ROOT.parent
    if (checkout / 'model-index.yml').is_file() and (checkout /
                                                       'configs').is_dir():
        return checkout / 'model-index.yml'
    if (PACKAGE_ROOT / '.mim' / 'model-index.yml').is_file():
        return PACKAGE_ROOT / '.mim' / 'model-index.yml'
    raise FileNotFoundError(
        f'mmcaps: no model-index.yml in {PACKAGE_ROOT / ".mim"} nor in '
        f'{PACKAGE_ROOT.parent}; reinstall mmcaps (pip install mmcaps, or '
        'pip install -e . in a checkout)')


def register_model_index(
        index_path: Union[str, Path, None] = None,
        checkpoint_root: Union[str, Path] = CHECKPOINT_ROOT) -> List[str]:
    """Register the models of a model index in mmpretrain's ``ModelHub``.

    Args:
        index_path: The ``model-index.yml``; its configs' paths are
            relative to its folder. Defaults to :func:`find_model_index`.
        checkpoint_root: The folder of the shipped checkpoints.

    Returns:
        The registered names, lower case as ``ModelHub`` keys them.

    Raises:
        ValueError: A name is registered already (by mmpretrain or an
            earlier call).
    """
    index_path = Path(index_path or find_model_index())
    before = set(ModelHub._models_dict)
    ModelHub.register_model_index(
        index_path, config_prefix=index_path.parent)
    # ModelHub has no public listing; its dict maps lower-case names to
    # entries.
    names = sorted(set(ModelHub._models_dict) - before)
    for name in names:
        ModelHub._models_dict[name] = ZooModel(ModelHub._models_dict[name],
                                               checkpoint_root)
    _registered.update(names)
    return names


def list_models(pattern: Optional[str] = None) -> List[str]:
    """The names of mmcaps' models among ``mmpretrain.list_models(
    pattern)`` (which lists mmpretrain's own too)."""
    return [n for n in list_all_models(pattern) if n in _registered]
