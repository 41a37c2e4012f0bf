"""Classify Pixels on a Dask cluster: the same map, block by block, on many processes or
machines (DASK_SCHEDULER, PARALLEL_PROCESSING_FACTOR, RETRIES, BLOCK_SIZE, RESUME)."""

from __future__ import annotations

from .engine import BlockFailed, DistributedRun, classify_on_cluster
from .plan import DEFAULT_BLOCK_SIZE, Block, parse_factor, plan_blocks

__all__ = ["DEFAULT_BLOCK_SIZE", "Block", "BlockFailed", "DistributedRun", "classify_on_cluster",
           "parse_factor", "plan_blocks"]
