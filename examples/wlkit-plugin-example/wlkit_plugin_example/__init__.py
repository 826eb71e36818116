"""An example third-party wlkit plugin package.

It provides one component of four families, using only wlkit's public API
(``from wlkit import ...``):

- aggregator ``example_softmax``: :class:`SoftmaxAggregator`, DeeperGCN's softmax aggregation;
- readout ``sum_max``: :class:`SumMaxReadout`, sum and max pooling side by side;
- positional encoding ``degree_onehot``: :class:`DegreeOneHot`, the clipped in-degree, one-hot;
- subgraph policy ``marked_copies``: :class:`MarkedCopiesPolicy`, one copy of the graph per
  node with that node marked (DS-GNN node marking).

wlkit finds it through the entry point ``example = wlkit_plugin_example.plugin`` in the group
``wlkit`` (see ``setup.cfg``); the hooks live in :mod:`wlkit_plugin_example.plugin`.
"""

from wlkit_plugin_example.components import (
    DegreeOneHot,
    MarkedCopiesModel,
    MarkedCopiesPolicy,
    SoftmaxAggregator,
    SumMaxReadout,
)

__version__ = "0.1.0"

__all__ = ["DegreeOneHot", "MarkedCopiesModel", "MarkedCopiesPolicy", "SoftmaxAggregator",
           "SumMaxReadout", "__version__"]
