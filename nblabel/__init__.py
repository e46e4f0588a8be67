"""nblabel: label image datasets and find wrong labels in a Jupyter widget.

Self-supervised embeddings -> a k-nearest-neighbour graph -> label propagation, after Bai et al.,
"Self-supervised Semi-supervised Learning for Data Labeling and Quality Evaluation".

The usual path::

    import nblabel
    source = nblabel.from_folder("images/")                 # sub-folders give the given labels
    session = nblabel.Session.from_source(source, nblabel.Encoder("resnet18"), journal="labels.nblabel.db")
    nblabel.Labeler(session)                                 # the widget: grid + UMAP scatter, linked

The torch-based parts (`Encoder`, `embed_images`, `BYOL`, `train_byol`) are imported on first use, so
``import nblabel`` stays fast for work on precomputed embeddings. The one-shot LP function stays at
``nblabel.propagate.propagate``: exporting it here would hide the ``nblabel.propagate`` module.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nblabel.active import next_batch
from nblabel.data import ImageSource, from_array, from_dataframe, from_folder, from_paths
from nblabel.datasets import digits, digits_embeddings, digits_source
from nblabel.distributed import embed_with_ray
from nblabel.graph import KnnGraph
from nblabel.layout import umap_layout
from nblabel.propagate import Propagator, knn_classify
from nblabel.quality import (
    estimate_noise_rate,
    flag_label_issues,
    noise_estimate,
    rank_suspects,
    suspicion,
)
from nblabel.session import Session, SessionState
from nblabel.shards import ShardedEmbeddings, open_embeddings
from nblabel.store import JournalError, LabelStore
from nblabel.widget import Labeler

if TYPE_CHECKING:
    from nblabel.byol import BYOL, train_byol
    from nblabel.embed import Encoder, WeightsUnavailableError, embed_images

__version__ = "0.2.0"

_LAZY = {
    "Encoder": "nblabel.embed",
    "embed_images": "nblabel.embed",
    "WeightsUnavailableError": "nblabel.embed",
    "BYOL": "nblabel.byol",
    "train_byol": "nblabel.byol",
}


def __getattr__(name: str) -> Any:
    # torch takes seconds to import; only the encoder and BYOL need it.
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nblabel' has no attribute {name!r}")


__all__ = [
    "BYOL",
    "Encoder",
    "ImageSource",
    "JournalError",
    "KnnGraph",
    "LabelStore",
    "Labeler",
    "Propagator",
    "Session",
    "SessionState",
    "ShardedEmbeddings",
    "WeightsUnavailableError",
    "__version__",
    "digits",
    "digits_embeddings",
    "digits_source",
    "embed_images",
    "embed_with_ray",
    "estimate_noise_rate",
    "flag_label_issues",
    "from_array",
    "from_dataframe",
    "from_folder",
    "from_paths",
    "knn_classify",
    "next_batch",
    "noise_estimate",
    "open_embeddings",
    "rank_suspects",
    "suspicion",
    "train_byol",
    "umap_layout",
]
