"""Clusters of sparse cores and the reconfigurable interconnect between the DMA's
load/store paths and the cores.

* :mod:`.cluster`: :class:`~.cluster.Cluster`, the cores with their load and store
  adapters, the load routes, the fan-outs and the store arbiter, with its registers;
* :mod:`.fanout`: :class:`~.fanout.Fanout`, one stream to the outputs a mask names
  (multicast, unicast);
* :mod:`.store_arbiter`: :class:`~.store_arbiter.StoreArbiter`, whole tiles round-robin;
* :mod:`.ports`: the payloads the command processor sends the cluster.
"""

from .cluster import Cluster, cluster_regmap
from .fanout import Fanout
from .store_arbiter import StoreArbiter

__all__ = ["Cluster", "cluster_regmap", "Fanout", "StoreArbiter"]
