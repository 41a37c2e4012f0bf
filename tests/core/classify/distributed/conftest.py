"""Real Dask clusters for the distributed tests: worker processes on this machine, or a
scheduler whose workers are threads of the test process (so a test can make a block fail
on purpose)."""

import pytest


@pytest.fixture()
def threaded_scheduler():
    """The address of a scheduler with two worker threads inside this process."""
    distributed = pytest.importorskip("distributed")
    import logging

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def nc_image(sample):
    return str(sample / "nc_landsat7" / "landsat_multiband.tif")
