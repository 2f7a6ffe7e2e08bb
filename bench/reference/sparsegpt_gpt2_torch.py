#!/usr/bin/env python3
"""PyTorch reference for bench/prune-speed.ts part (b) (issue #11): sequential SparseGPT on
the GPT-2-small-shaped decoder of test/exported-models.ts (`gpt2Like`).

Benchmark reference only: never run by the tests or CI. The network is rebuilt in PyTorch from
the ONNX model's initializers (an .npz keyed by initializer name, written by prune-speed.ts, so
no `onnx` package is needed):

  h0 = wte[ids] + wpe[0..T−1]; per block (no LayerNorm, single head, weights stored [in, out]):
    a = softmax(q·kᵀ·scale + causal_bias)·v with q, k, v = h·W_q, h·W_k, h·W_v
    h2 = h + a·W_out;  h3 = h2 + relu(h2·W_fc)·W_proj
  logits = h·wteᵀ (the lm_head tied to the embedding; the attention mask is all ones, so its
  bias term (1 − mask)·(−10⁴) is zero).

The procedure is IST-DASLab/sparsegpt's sequential one (`opt_sequential`/`llama_sequential`
with true-sequential groups), re-implemented here:

  1. the calibration windows run through the embedding (the inputs of block 0);
  2. per block, per group of linear layers in depth order — [q, k, v] (one input), [out], [fc],
     [proj] — forward hooks accumulate each layer's H = 2·XXᵀ/n in Float32 (running mean over
     batches, n counting windows: the reference's `add_batch`) while the whole block runs over
     every calibration batch (as the reference does, once per group); then every layer of the
     group gets `fasterprune` (sparsegpt_torch.sparsegpt: 50 %, blocksize 128, percdamp 0.01,
     unstructured) and its weight is replaced;
  3. the block runs again with its pruned weights to give the next block's inputs.

The tied embedding / lm_head stays dense, as surgeon leaves tied weights dense. Forwards run
`--batch` windows at a time (8: prune-speed's surgeon run uses --batch 8).

Inputs: --weights W.npz (the dense model's float initializers), --tokens S.npy (the 1-D int64
stream), --seq-len T, --calib-windows N (windows 0..N−1, x = s[iT:(i+1)T]), --held-out M
(windows N..N+M−1, scored against y = s[iT+1:(i+1)T+1]: the windows surgeon holds out and
prune-speed evaluates surgeon's models on). Optional: --ort-logits L.npy (onnxruntime's dense
logits of window 0, [T, vocab]) to check the rebuilt network; --compare P.npz (surgeon's pruned
initializers) for per-layer mask agreement; --out P.npz to write the pruned weights ([in, out]
as in the ONNX model). Prints one JSON object on stdout. Run as bench/prune-speed.ts does:

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_NUM_THREADS=2 /usr/bin/python3 \\
      bench/reference/sparsegpt_gpt2_torch.py --weights W.npz --tokens S.npy --seq-len 256 \\
      --calib-windows 64 --held-out 16 --batch 8 --threads 2
"""
import argparse
import json
import math
import resource
import time

T_PROCESS = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from sparsegpt_torch import sparsegpt  # noqa: E402

T_IMPORTED = time.perf_counter()

GROUPS = [["attn.q", "attn.k", "attn.v"], ["attn.out"], ["mlp.fc"], ["mlp.proj"]]
LINEARS = [name for group in GROUPS for name in group]


class Block(torch.nn.Module):
    """One gpt2Like block; nn.Linear weights are the ONNX [in, out] matrices transposed."""

    def __init__(self, weights, prefix: str):
        super().__init__()
        self.linears = torch.nn.ModuleDict()
        for name in LINEARS:
            W = weights[f"{prefix}.{name}.weight"]  # [in, out]
            layer = torch.nn.Linear(W.shape[0], W.shape[1], bias=False)
            layer.weight.data = torch.from_numpy(np.ascontiguousarray(W.T, dtype=np.float32))
            self.linears[name.replace(".", "_")] = layer
        self.scale = torch.from_numpy(np.asarray(weights[f"{prefix}.attn.scale"], dtype=np.float32))

    def linear(self, name: str) -> torch.nn.Linear:
        return self.linears[name.replace(".", "_")]

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        q = self.linear("attn.q")(h)
        k = self.linear("attn.k")(h)
        v = self.linear("attn.v")(h)
        p = torch.softmax(q.matmul(k.transpose(1, 2)) * self.scale + bias, dim=-1)
        h2 = h + self.linear("attn.out")(p.matmul(v))
        return h2 + self.linear("mlp.proj")(torch.relu(self.linear("mlp.fc")(h2)))


class Gpt2Like(torch.nn.Module):
    def __init__(self, weights):
        super().__init__()
        self.wte = torch.from_numpy(np.array(weights["transformer.wte.weight"], dtype=np.float32))
        self.wpe = torch.from_numpy(np.array(weights["transformer.wpe.weight"], dtype=np.float32))
        self.bias = torch.from_numpy(np.array(weights["causal_bias"], dtype=np.float32))  # [1, T, T]
        count = len({k.split(".")[2] for k in weights.files if k.startswith("transformer.h.")})
        self.blocks = torch.nn.ModuleList(Block(weights, f"transformer.h.{b}") for b in range(count))

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.wte[ids] + self.wpe[: ids.shape[1]].unsqueeze(0)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.embed(ids)
        for block in self.blocks:
            h = block(h, self.bias)
        return h.matmul(self.wte.t())


class Hessian:
    """The reference's SparseGPT.add_batch: H = 2·XXᵀ/n in Float32, n counting windows."""

    def __init__(self, d: int):
        self.H = torch.zeros((d, d), dtype=torch.float32)
        self.nsamples = 0
        self.seconds = 0.0

    def add_batch(self, inp: torch.Tensor) -> None:
        t0 = time.perf_counter()
        tmp = inp.shape[0]
        inp = inp.reshape((-1, inp.shape[-1])).t()
        self.H *= self.nsamples / (self.nsamples + tmp)
        self.nsamples += tmp
        inp = math.sqrt(2 / self.nsamples) * inp.float()
        self.H += inp.matmul(inp.t())
        self.seconds += time.perf_counter() - t0


def windows(stream: np.ndarray, first: int, count: int, T: int):
    ids = np.stack([stream[(first + i) * T:(first + i + 1) * T] for i in range(count)])
    targets = np.stack([stream[(first + i) * T + 1:(first + i + 1) * T + 1] for i in range(count)])
    return torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(targets.astype(np.int64))


def mean_nll(model: Gpt2Like, ids: torch.Tensor, targets: torch.Tensor, batch: int) -> float:
    """Mean NLL over every position (log-softmax in Float64, as surgeon's eval); perplexity = exp of it."""
    nll = 0.0
    for s in range(0, ids.shape[0], batch):
        logits = model(ids[s:s + batch]).double()
        logp = torch.log_softmax(logits, dim=-1)
        nll -= float(logp.gather(-1, targets[s:s + batch].unsqueeze(-1)).sum())
    return nll / targets.numel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--seq-len", type=int, required=True)
    parser.add_argument("--calib-windows", type=int, required=True)
    parser.add_argument("--held-out", type=int, required=True)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--sparsity", type=float, default=0.5)
    parser.add_argument("--blocksize", type=int, default=128)
    parser.add_argument("--percdamp", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ort-logits")
    parser.add_argument("--compare")
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    T = args.seq_len

    with torch.no_grad():
        weights = np.load(args.weights)
        model = Gpt2Like(weights)
        stream = np.load(args.tokens)
        if stream.ndim != 1 or stream.shape[0] < (args.calib_windows + args.held_out) * T + 1:
            raise SystemExit(f"{args.tokens}: {stream.shape} tokens; need a 1-D stream of at least {(args.calib_windows + args.held_out) * T + 1}")
        ids, _ = windows(stream, 0, args.calib_windows, T)
        t_loaded = time.perf_counter()

        forward = 0.0
        statistics = 0.0
        factor = 0.0
        sweep = 0.0
        layers = []
        t0 = time.perf_counter()
        inps = torch.cat([model.embed(ids[s:s + args.batch]) for s in range(0, ids.shape[0], args.batch)])
        outs = torch.empty_like(inps)
        forward += time.perf_counter() - t0
        for b, block in enumerate(model.blocks):
            for group in GROUPS:
                hessians = {name: Hessian(block.linear(name).in_features) for name in group}
                handles = [block.linear(name).register_forward_hook(lambda _m, inp, _out, h=hessians[name]: h.add_batch(inp[0].data)) for name in group]
                t0 = time.perf_counter()
                for s in range(0, inps.shape[0], args.batch):
                    outs[s:s + args.batch] = block(inps[s:s + args.batch], model.bias)
                elapsed = time.perf_counter() - t0
                for handle in handles:
                    handle.remove()
                hook_seconds = sum(h.seconds for h in hessians.values())
                statistics += hook_seconds
                forward += elapsed - hook_seconds
                for name in group:
                    layer = block.linear(name)
                    W, steps = sparsegpt(layer.weight.data, hessians[name].H, args.sparsity, args.blocksize, args.percdamp)
                    layer.weight.data = W
                    factor += steps["factor"]
                    sweep += steps["sweep"]
                    layers.append({"name": f"transformer.h.{b}.{name}.weight", "rows": int(W.shape[0]), "cols": int(W.shape[1]), "seconds": steps["factor"] + steps["sweep"]})
                    del hessians[name]
            t0 = time.perf_counter()
            for s in range(0, inps.shape[0], args.batch):
                outs[s:s + args.batch] = block(inps[s:s + args.batch], model.bias)
            inps, outs = outs, inps
            forward += time.perf_counter() - t0
        t_pruned = time.perf_counter()
        peak_pruned = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        del inps, outs

        with open("/proc/self/maps") as maps:
            loaded = sorted({line.split()[-1] for line in maps if "blas" in line.lower() or "lapack" in line.lower()})
        config = torch.__config__.show()
        result = {
            "torch": torch.__version__,
            "blasLibraries": loaded,
            "threads": torch.get_num_threads(),
            "blas": [part.strip() for line in config.splitlines() for part in line.split(",") if "BLAS" in part or "LAPACK" in part],
            "blocks": len(model.blocks),
            "calibWindows": args.calib_windows,
            "heldOutWindows": args.held_out,
            "seqLen": T,
            "batch": args.batch,
            "seconds": {
                "import": T_IMPORTED - T_PROCESS,
                "read": t_loaded - T_IMPORTED,
                "forward": forward,
                "statistics": statistics,
                "factor": factor,
                "sweep": sweep,
                "prune": factor + sweep,
                "untilPruned": t_pruned - T_PROCESS,
            },
            "peakRssBytes": peak_pruned,
        }
        pruned = {}
        for block_index, block in enumerate(model.blocks):
            for name in LINEARS:
                pruned[f"transformer.h.{block_index}.{name}.weight"] = block.linear(name).weight.data.t().contiguous().numpy()
        total = sum(w.size for w in pruned.values())
        result["sparsity"] = float(sum(int((w == 0).sum()) for w in pruned.values()) / total)

        # Quality, outside the timings: held-out perplexity of the pruned and the dense network.
        t0 = time.perf_counter()
        held_ids, held_targets = windows(stream, args.calib_windows, args.held_out, T)
        nll = {"pruned": mean_nll(model, held_ids, held_targets, args.batch)}
        del model
        dense = Gpt2Like(np.load(args.weights))
        nll["dense"] = mean_nll(dense, held_ids, held_targets, args.batch)
        result["nll"] = nll
        result["perplexity"] = {"dense": math.exp(nll["dense"]), "pruned": math.exp(nll["pruned"]), "positions": int(held_targets.numel())}
        if args.ort_logits:
            ort = torch.from_numpy(np.load(args.ort_logits).astype(np.float32)).reshape(T, -1)
            mine = dense(ids[:1])[0]
            result["denseLogitsVsOnnxruntime"] = {"maxAbsDiff": float((mine - ort).abs().max()), "maxAbsLogit": float(ort.abs().max())}
        del dense
        if args.compare:
            other = np.load(args.compare)
            per_layer = []
            for name, W in pruned.items():
                O = other[name].reshape(W.shape)
                per_layer.append({"name": name, "maskAgreement": float(((O == 0) == (W == 0)).mean()), "surgeonSparsity": float((O == 0).mean())})
            result["compare"] = {
                "maskAgreement": float(sum(p["maskAgreement"] * pruned[p["name"]].size for p in per_layer) / total),
                "layers": per_layer,
            }
        result["layers"] = layers
        if args.out:
            np.savez(args.out, **pruned)
        result["seconds"]["evaluation"] = time.perf_counter() - t0
        result["seconds"]["process"] = time.perf_counter() - T_PROCESS
        result["peakRssBytesWithEvaluation"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
