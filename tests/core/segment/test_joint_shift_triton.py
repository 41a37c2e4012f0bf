"""segment.joint_shift_triton: the Triton kernel gives the compiled pass's modes, values,
displacements and travel bit for bit on real pixels (NoData holes, 1, 3 and 6 bands, a cap
on the iterations). Run here by Triton's interpreter on the CPU (in a process of its own:
the interpreter is chosen when the kernel is defined); on a CUDA GPU by the
joint_shift tests (test_joint_shift_jit)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from landlearn.core.classical.trees.kernel import numba_version
from landlearn.core.runtime.triton_gate import _installed

pytestmark = [pytest.mark.skipif(numba_version() is None, reason="numba is not installed"),
              pytest.mark.skipif(not _installed(), reason="triton is not installed")]

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    from landlearn.core.runtime.triton_gate import load_triton
    from landlearn.core.segment.joint_shift import joint_filter
    load_triton()
    from landlearn.core.segment.joint_shift_triton import search

    path, cases = sys.argv[1], json.loads(sys.argv[2])
    import rasterio
    report = []
    with rasterio.open(path) as ds:
        for bands, scale, hs, hr, max_iter in cases:
            x = ds.read(bands).astype(np.float32)[:, 40:62, 60:85] / scale
            valid = np.ones(x.shape[1:], bool)
            valid[8:11, 3:15] = False
            x[:, ~valid] = 0
            want = joint_filter(x, valid, hs, hr, 0.1, max_iter, "compiled")
            v = torch.from_numpy(np.ascontiguousarray(x))
            b, h, w = v.shape
            got = (torch.empty_like(v), torch.empty((2, h, w), dtype=torch.float64),
                   torch.empty((h, w), dtype=torch.int32))
            search(v, torch.from_numpy(valid.astype(np.uint8)), *got, hs, hr, 0.1, max_iter)
            report.append({"equal": [bool(np.array_equal(a, g.numpy()))
                                     for a, g in zip(want, got)],
                           "moved": bool(want[2].max() > 0), "travel": int(want[2].max())})
    print(json.dumps(report))
""")


def test_the_kernel_gives_the_compiled_modes_bit_for_bit(sample, tmp_path):
    cases = [[[4, 3, 2], 8.0, 3, 12.0, 100], [[8], 32.0, 2, 25.0, 100],
             [[4, 3, 2, 8, 9, 10], 8.0, 2, 25.0, 3], [[4, 3, 2], 8.0, 2, 12.0, 0]]
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, TRITON_INTERPRET="1")
    env.pop("LANDLEARN_NO_TRITON", None)
    done = subprocess.run([sys.executable, str(script),
                           str(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif"),
                           json.dumps(cases)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for case, got in zip(cases, report):
        assert got["equal"] == [True, True, True], case
    assert [r["moved"] for r in report] == [True, True, True, False]  # 0 steps: none moved
    assert report[0]["travel"] >= 2  # the points went places the tile's halo must follow


def test_the_kernel_runs_on_a_cuda_gpu_as_joint_filter(sample):
    """Where a GPU is lent and triton may load, joint_filter on CUDA is this kernel and
    gives the compiled modes bit for bit (no fused multiply-adds) on a whole tile."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    import rasterio

    from landlearn.core.runtime.triton_gate import triton_blocked
    from landlearn.core.segment.joint_shift import gpu_search, joint_filter

    assert triton_blocked() is None and gpu_search(torch.device("cuda")) == "one Triton kernel"
    with rasterio.open(sample / "s2_osm_sparse" / "s2l1c_10bands_10m_subset.tif") as ds:
        x = ds.read((4, 3, 2)).astype(np.float32)[:, :300, :300] / 8.0
    valid = np.ones(x.shape[1:], bool)
    valid[100:120, 40:200] = False
    x[:, ~valid] = 0
    ours = joint_filter(x, valid, 5, 15.0, 0.1, 100, "compiled")
    gpu = joint_filter(x, valid, 5, 15.0, 0.1, 100, torch.device("cuda"))
    for a, b in zip(ours, gpu):
        np.testing.assert_array_equal(a, b)


def test_no_python_float_reaches_the_kernel():
    """Triton types a Python float argument float32: 1 / hs^2, 1 / hr^2 and the threshold
    rounded so moved the kernel's edge on a GPU (review 89) while the interpreter, which
    keeps Python floats, agreed. They travel in a float64 tensor; every scalar is an int.
    In a process of its own: triton is not loaded into the test process (triton_gate)."""
    script = textwrap.dedent("""
        import json
        import torch
        from landlearn.core.runtime.triton_gate import load_triton
        load_triton()
        from landlearn.core.segment import joint_shift_triton as k

        seen = {}

        class Launch:
            def __getitem__(self, grid):
                def run(*args, **kw):
                    seen.update(args=args, kw=kw)
                return run

        k._shift = Launch()
        v = torch.zeros((3, 4, 5))
        k.search(v, torch.ones((4, 5), dtype=torch.uint8), torch.empty_like(v),
                 torch.empty((2, 4, 5), dtype=torch.float64),
                 torch.empty((4, 5), dtype=torch.int32), 5, 15.0, 0.1, 100)
        scalars = [type(a).__name__ for a in seen["args"] if not isinstance(a, torch.Tensor)]
        const = next(a for a in seen["args"] if isinstance(a, torch.Tensor) and a.numel() == 3)
        print(json.dumps({"scalars": scalars, "const": const.tolist(),
                          "dtype": str(const.dtype),
                          "fusion": seen["kw"]["enable_fp_fusion"]}))
    """)
    env = dict(os.environ)
    env.pop("LANDLEARN_NO_TRITON", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["scalars"] and set(got["scalars"]) == {"int"}
    assert got["dtype"] == "torch.float64" and got["fusion"] is False
    assert got["const"] == [1.0 / 25, 1.0 / 225.0, 0.1 ** 2]  # the compiled pass's values


@pytest.mark.parametrize("capability", [75, 80, 90])
def test_the_kernel_compiles_for_cuda_gpus_without_fused_multiply_adds(capability):
    """No GPU needed: triton's bundled ptxas builds the kernel for Turing (75), Ampere (80)
    and Hopper (90) as a launch on such a GPU would, with 1, 3, 4 and 6 bands; the machine
    code has no fused multiply-add (each would round once where the CPU rounds twice, and
    move a point across the kernel's edge) and divides as IEEE does (div.rn). The
    signature is read off the kernel: pointers by name, ints for every other scalar."""
    script = textwrap.dedent("""
        import json, sys
        from landlearn.core.runtime.triton_gate import load_triton
        triton = load_triton()
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource
        from landlearn.core.segment import joint_shift_triton as k

        pointers = {"v_ptr": "*fp32", "ok_ptr": "*u8", "out_ptr": "*fp32",
                    "disp_ptr": "*fp64", "travel_ptr": "*i32", "const_ptr": "*fp64"}
        sig = {p.name: "constexpr" if p.is_constexpr else pointers.get(p.name, "i32")
               for p in k._shift.params}
        report = []
        for bands, fusion in ((1, False), (3, False), (4, False), (6, False), (3, True)):
            src = ASTSource(fn=k._shift, signature=sig,
                            constexprs={"n_bands": bands,
                                        "width": triton.next_power_of_2(bands),
                                        "block": k.BLOCK})
            done = triton.compile(src, target=GPUTarget("cuda", int(sys.argv[1]), 32),
                                  options={"enable_fp_fusion": fusion, "num_warps": 4})
            ptx = done.asm["ptx"]
            report.append({"cubin": len(done.asm["cubin"]), "fma": ptx.count("fma.rn.f64"),
                           "div": ptx.count("div.rn.f64")})
        print(json.dumps(report))
    """)
    env = dict(os.environ)
    env.pop("LANDLEARN_NO_TRITON", None)
    env.pop("TRITON_INTERPRET", None)
    done = subprocess.run([sys.executable, "-c", script, str(capability)], env=env,
                          capture_output=True, text=True, timeout=600)
    if "ptxas" in done.stderr and "not found" in done.stderr.lower():
        pytest.skip("triton has no ptxas here")
    assert done.returncode == 0, done.stderr[-3000:]
    *plain, fused = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(r["cubin"] > 0 and r["fma"] == 0 and r["div"] > 0 for r in plain)
    assert fused["fma"] > 0  # the check can fail: with fusion on, the compiler does fuse
