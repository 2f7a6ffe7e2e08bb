#!/usr/bin/env python3
"""PyTorch reference for bench/prune-speed.ts (issue #11): SparseGPT on one linear layer.

Benchmark reference only: never run by the tests or CI. It follows the procedure of
IST-DASLab/sparsegpt (Frantar & Alistarh 2023), re-implemented here:

  1. H = 2·XᵀX/N accumulated in Float32 over batches of calibration rows (running mean);
  2. dead inputs (H_jj = 0) get H_jj = 1 and W[:, j] = 0; dampening H += 0.01·mean(diag H)·I;
  3. U = chol(H⁻¹) (upper), via Cholesky of H, its inverse, and the upper Cholesky factor;
  4. the column sweep in blocks of 128 columns: the adaptive mask of a block keeps the weights
     with the largest w²/U_jj² (50 % zeroed over the block's rows × 128 entries), each column's
     error is propagated inside the block, and the rest of W gets one lazy GEMM update per block.

Inputs: --x X.npy (N × d Float32 rows), --w W.npy (rows × d, the layer's weight as [out, in]).
Optionally --compare W2.npy (e.g. surgeon's pruned weight): reports mask agreement and both
relative reconstruction errors ‖(Ŵ−W)Xᵀ‖²/‖WXᵀ‖² computed in Float64 from the same rows.
Prints one JSON object on stdout. Run as bench/prune-speed.ts does:

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=2 /usr/bin/python3 \\
      bench/reference/sparsegpt_torch.py --x X.npy --w W.npy --threads 2
"""
import argparse
import json
import math
import resource
import time

T_PROCESS = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402

T_IMPORTED = time.perf_counter()


def accumulate_hessian(X: np.ndarray, batch: int) -> torch.Tensor:
    """H = 2·XᵀX/N in Float32, as a running mean over batches (the reference's add_batch)."""
    d = X.shape[1]
    H = torch.zeros((d, d), dtype=torch.float32)
    seen = 0
    for start in range(0, X.shape[0], batch):
        rows = torch.from_numpy(X[start:start + batch]).t().float()  # d × n
        n = rows.shape[1]
        H *= seen / (seen + n)
        seen += n
        rows = math.sqrt(2 / seen) * rows
        H += rows.matmul(rows.t())
    return H


def sparsegpt(W: torch.Tensor, H: torch.Tensor, sparsity: float, blocksize: int = 128, percdamp: float = 0.01):
    """Prunes W (rows × d, Float32) in place of a copy; returns (Ŵ, seconds per step)."""
    W = W.clone().float()
    H = H.clone()
    rows, cols = W.shape
    t0 = time.perf_counter()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H += percdamp * torch.mean(torch.diag(H)) * torch.eye(cols)
    L = torch.linalg.cholesky(H)
    Hinv = torch.cholesky_inverse(L)
    U = torch.linalg.cholesky(Hinv, upper=True)
    t1 = time.perf_counter()
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        count = i2 - i1
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        E1 = torch.zeros_like(W1)
        U1 = U[i1:i2, i1:i2]
        score = W1 ** 2 / torch.diag(U1).reshape(1, -1) ** 2
        threshold = torch.sort(score.flatten())[0][int(score.numel() * sparsity)]
        prune = score <= threshold
        for i in range(count):
            w = W1[:, i]
            u = U1[i, i]
            q = w.clone()
            q[prune[:, i]] = 0
            Q1[:, i] = q
            err = (w - q) / u
            W1[:, i:] -= err.unsqueeze(1).matmul(U1[i, i:].unsqueeze(0))
            E1[:, i] = err
        W[:, i1:i2] = Q1
        W[:, i2:] -= E1.matmul(U[i1:i2, i2:])
    t2 = time.perf_counter()
    return W, {"factor": t1 - t0, "sweep": t2 - t1}


def relative_error(W: torch.Tensor, What: torch.Tensor, H64: torch.Tensor) -> float:
    """‖(Ŵ−W)Xᵀ‖²/‖WXᵀ‖² = tr(ΔHΔᵀ)/tr(WHWᵀ) with H = XᵀX (Float64)."""
    W = W.double()
    D = What.double() - W
    return float(((D @ H64) * D).sum() / ((W @ H64) * W).sum())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", required=True)
    parser.add_argument("--w", required=True)
    parser.add_argument("--compare")
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2048, help="calibration rows per add_batch")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = torch.__config__.show()
    blas = [part.strip() for line in config.splitlines() for part in line.split(",") if "BLAS" in part or "LAPACK" in part]

    X = np.load(args.x).astype(np.float32, copy=False)
    W = torch.from_numpy(np.load(args.w).astype(np.float32))
    t_loaded = time.perf_counter()
    H = accumulate_hessian(X, args.batch)
    t_h = time.perf_counter()
    What, steps = sparsegpt(W, H, args.sparsity)
    t_pruned = time.perf_counter()

    with open("/proc/self/maps") as maps:
        loaded = sorted({line.split()[-1] for line in maps if "blas" in line.lower() or "lapack" in line.lower()})
    result = {
        "torch": torch.__version__,
        "blasLibraries": loaded,
        "threads": torch.get_num_threads(),
        "blas": blas,
        "rows": int(W.shape[0]),
        "cols": int(W.shape[1]),
        "samples": int(X.shape[0]),
        "seconds": {
            "import": T_IMPORTED - T_PROCESS,
            "read": t_loaded - T_IMPORTED,
            "statistics": t_h - t_loaded,
            "factor": steps["factor"],
            "sweep": steps["sweep"],
            "prune": t_pruned - t_h,
            "hPlusSweep": t_pruned - t_loaded,
            "untilPruned": t_pruned - T_PROCESS,
        },
        "sparsity": float((What == 0).float().mean()),
    }
    # Quality (outside the timings): errors in Float64 from the same rows.
    X64 = torch.from_numpy(X).double()
    H64 = X64.t() @ X64
    result["relativeError"] = relative_error(W, What, H64)
    if args.compare:
        other = torch.from_numpy(np.load(args.compare).astype(np.float32)).reshape(W.shape)
        result["compare"] = {
            "sparsity": float((other == 0).float().mean()),
            "relativeError": relative_error(W, other, H64),
            "maskAgreement": float(((other == 0) == (What == 0)).float().mean()),
        }
    result["seconds"]["process"] = time.perf_counter() - T_PROCESS
    result["peakRssBytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
