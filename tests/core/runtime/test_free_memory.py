"""Free memory as the checks before a pass or a training step read it."""

from landlearn.core.runtime import free_memory


def test_the_free_memory_is_read_from_the_system_and_unknown_where_nothing_says(monkeypatch):
    """The CPU's from the system, less the process's headroom; ONNX Runtime's CUDA device
    (no torch device: torch may be absent, or CPU-only) is not known, not a crash
    (review, stop 68); outside a Dask worker there is no worker limit. (No cgroup limit
    here: a CI container's would name itself.)"""
    from types import SimpleNamespace

    monkeypatch.setattr(free_memory, "cgroup_room", lambda: None)

    free = free_memory.available_memory(None)
    assert free is not None and free[1] == "of memory available"
    assert free_memory.available_memory(SimpleNamespace(type="cpu"))[1] == "of memory available"
    assert free_memory.available_memory(SimpleNamespace(type="cuda")) is None
    assert free_memory.worker_memory_room() is None


def _cgroups(tmp_path, monkeypatch, proc: str, files: dict) -> None:
    (tmp_path / "proc").write_text(proc)
    for name, text in files.items():
        path = tmp_path / "cg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.setattr(free_memory, "_PROC_CGROUP", str(tmp_path / "proc"))
    monkeypatch.setattr(free_memory, "_CGROUP_ROOT", str(tmp_path / "cg"))


def test_a_container_or_job_limit_bounds_the_free_memory(tmp_path, monkeypatch):
    """The system's available memory counts the whole host: in a 4 GB container on a
    64 GB host a 10 GB pass was let through, and the kernel killed qgis_process unsaid
    (review, stop 69). cgroup v2 (inside a container, its own cgroup at the mount), v1
    (a job's cgroup below the mount, a tighter parent), page cache aside; no limit: None."""
    gib = 1 << 30
    _cgroups(tmp_path, monkeypatch, "0::/\n", {
        "memory.max": f"{4 * gib}\n", "memory.current": f"{3 * gib}\n",
        "memory.stat": f"anon 1\ninactive_file {gib // 2}\nactive_file 5\n"})
    assert free_memory.cgroup_room() == 4 * gib - (3 * gib - gib // 2)
    monkeypatch.setattr(free_memory, "_system_available", lambda: 60 * gib)
    free, where = free_memory.available_memory(None)
    assert free == int(1.5 * gib) - int(1.5 * gib) // 4 and "cgroup" in where
    (tmp_path / "cg" / "memory.max").write_text("max\n")
    assert free_memory.cgroup_room() is None
    assert free_memory.available_memory(None) == (59 * gib, "of memory available")

    _cgroups(tmp_path, monkeypatch, "12:cpu:/\n4:memory:/slurm/job_7\n", {
        "memory/memory.limit_in_bytes": "9223372036854771712\n",
        "memory/memory.usage_in_bytes": f"{50 * gib}\n",
        "memory/slurm/memory.limit_in_bytes": f"{8 * gib}\n",
        "memory/slurm/memory.usage_in_bytes": f"{6 * gib}\n",
        "memory/slurm/job_7/memory.limit_in_bytes": f"{16 * gib}\n",
        "memory/slurm/job_7/memory.usage_in_bytes": f"{6 * gib}\n",
        "memory/slurm/job_7/memory.stat": f"total_inactive_file {gib}\n"})
    (tmp_path / "cg" / "cgroup.controllers").unlink(missing_ok=True)
    assert free_memory.cgroup_room() == 2 * gib  # the parent's 8 GB, tighter than 16
    monkeypatch.setattr(free_memory, "_PROC_CGROUP", str(tmp_path / "absent"))
    assert free_memory.cgroup_room() is None


def test_a_small_machine_keeps_a_quarter_aside_not_a_whole_gib(monkeypatch):
    """900 MB free left -0.1 GB after the 1 GiB headroom, and a pass of 28 MB was refused
    (review, stop 69)."""
    monkeypatch.setattr(free_memory, "cgroup_room", lambda: None)
    monkeypatch.setattr(free_memory, "_system_available", lambda: 900 << 20)
    assert free_memory.available_memory(None)[0] == (900 << 20) - (225 << 20)
    monkeypatch.setattr(free_memory, "_system_available", lambda: 16 << 30)
    assert free_memory.available_memory(None)[0] == (16 << 30) - free_memory.HEADROOM
