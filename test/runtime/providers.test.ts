/**
 * Execution providers (`--device cpu|cuda`, `--execution-provider`): the flags, what a machine
 * lacks for a GPU provider (the CUDA provider binaries, a GPU) in one line with how to get it,
 * the CPU device giving the default's numbers, and TF.js models refusing the flags.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { executionProvidersOf, missingForProviders, providerHost, type ProviderHost } from '../../src/runtime/session.js';
import * as exported from '../exported-models.js';
import { tiny } from '../fixtures.js';
import { expectBadInput, surgeon, tempDir } from '../cli/helpers.js';

const TEST = ['--inputs', tiny('tiny-test-images.npy'), '--labels', tiny('tiny-test-labels.npy'), '--scale', '1/255'];
const CALIB = ['--inputs', tiny('tiny-train-images.npy'), '--labels', tiny('tiny-train-labels.npy'), '--scale', '1/255'];
const SUPPORTED = ['cpu', 'webgpu', 'cuda', 'tensorrt'];

/** A fake onnxruntime-node binary folder holding `libraries`. */
function host(libraries: string[], nvidiaGpu: boolean): ProviderHost {
  const binaryDir = join(tempDir(), 'bin');
  mkdirSync(binaryDir);
  for (const l of libraries) writeFileSync(join(binaryDir, l), '');
  return { supported: SUPPORTED, binaryDir, nvidiaGpu };
}

describe('execution providers', () => {
  it('--device maps to providers, --execution-provider takes names in order; both, an unknown device or an empty list are refused', () => {
    expect(executionProvidersOf({})).toBeUndefined();
    expect(executionProvidersOf({ device: 'cpu' })).toEqual(['cpu']);
    expect(executionProvidersOf({ device: 'cuda' })).toEqual(['cuda']);
    expect(executionProvidersOf({ executionProvider: 'TensorRT, cuda' })).toEqual(['tensorrt', 'cuda']);
    expect(() => executionProvidersOf({ device: 'gpu' })).toThrow(/^--device gpu is not a device; pass --device cpu or --device cuda$/);
    expect(() => executionProvidersOf({ device: 'cuda', executionProvider: 'cuda' })).toThrow(/pass one of them/);
    expect(() => executionProvidersOf({ executionProvider: ' , ' })).toThrow(/--execution-provider is empty/);
  });

  it('what is missing for CUDA: the provider binaries, a GPU, or both — with how to get each; nothing for the CPU', () => {
    const libs = ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'];
    expect(missingForProviders(['cuda'], host(libs, true), '--device cuda')).toBeUndefined();
    expect(missingForProviders(['cpu'], host([], false), '--device cpu')).toBeUndefined();
    const noBinaries = missingForProviders(['cuda'], host([], true), '--device cuda')!;
    expect(noBinaries).toMatch(/^--device cuda needs onnxruntime-node's CUDA execution provider binaries \(libonnxruntime_providers_shared\.so, libonnxruntime_providers_cuda\.so in \S+; .*\); ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install .*, or drop --device cuda to run on the CPU$/);
    expect(noBinaries).not.toMatch(/NVIDIA GPU \(/);
    const noGpu = missingForProviders(['cuda'], host(libs, false), '--device cuda')!;
    expect(noGpu).toMatch(/^--device cuda needs an NVIDIA GPU \(no \/dev\/nvidiactl: no GPU or no driver on this machine\); run on a machine with an NVIDIA GPU and its driver, or drop --device cuda to run on the CPU$/);
    const neither = missingForProviders(['cuda'], host([], false), '--device cuda')!;
    expect(neither).toMatch(/needs onnxruntime-node's CUDA execution provider binaries .* and an NVIDIA GPU .*; run on a machine with an NVIDIA GPU and its driver and ONNXRUNTIME_NODE_INSTALL=cuda12/);
    // TensorRT needs its own library besides CUDA's
    expect(missingForProviders(['tensorrt', 'cuda'], host(libs, true), '--execution-provider tensorrt,cuda')).toMatch(/libonnxruntime_providers_tensorrt\.so in/);
    expect(missingForProviders(['foo'], host([], true), '--execution-provider foo')).toBe("--execution-provider foo: onnxruntime-node has no 'foo' execution provider on " + `${process.platform}/${process.arch} (it knows cpu, webgpu, cuda, tensorrt); pass one of those`);
  });

  it('--device cpu gives the default numbers on eval and prune', () => {
    const plain = JSON.parse(surgeon(['eval', tiny('tiny-mlp.onnx'), ...TEST, '--json']).stdout) as { accuracy: number; executionProviders?: string };
    const cpu = surgeon(['eval', tiny('tiny-mlp.onnx'), ...TEST, '--json', '--device', 'cpu']);
    expect(cpu.status, cpu.stderr).toBe(0);
    const onCpu = JSON.parse(cpu.stdout) as { accuracy: number; executionProviders?: string };
    expect(onCpu.accuracy).toBe(plain.accuracy);
    expect(onCpu.executionProviders).toBe('cpu');
    expect(plain.executionProviders).toBeUndefined();
    const out = tempDir();
    const a = JSON.parse(surgeon(['prune', tiny('tiny-mlp.onnx'), '--method', 'sparsegpt', '--sparsity', '0.5', ...CALIB, '--calib-samples', '128', '--out', join(out, 'a.onnx'), '--json']).stdout) as { totals: unknown };
    const b = surgeon(['prune', tiny('tiny-mlp.onnx'), '--method', 'sparsegpt', '--sparsity', '0.5', ...CALIB, '--calib-samples', '128', '--out', join(out, 'b.onnx'), '--json', '--device', 'cpu']);
    expect(b.status, b.stderr).toBe(0);
    expect((JSON.parse(b.stdout) as { totals: unknown }).totals).toEqual(a.totals);
  });

  const cudaMissing = missingForProviders(['cuda'], providerHost(), '--device cuda');
  it.skipIf(cudaMissing === undefined)(`--device cuda where CUDA cannot run: eval, prune and curve end with one line naming what is missing${cudaMissing === undefined ? ' (skipped: this machine has the CUDA provider and a GPU)' : ''}`, () => {
    const line = new RegExp(`^surgeon: ${cudaMissing!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
    expectBadInput(surgeon(['eval', tiny('tiny-mlp.onnx'), ...TEST, '--device', 'cuda']), line);
    const out = tempDir();
    expectBadInput(surgeon(['prune', tiny('tiny-mlp.onnx'), '--method', 'magnitude', '--sparsity', '0.5', '--out', join(out, 'p.onnx'), '--device', 'cuda']), line);
    expectBadInput(surgeon(['curve', tiny('tiny-mlp.onnx'), '--methods', 'magnitude', '--sparsities', '0.5', ...TEST, '--out', join(out, 'c'), '--device', 'cuda']), line);
  });

  it('TF.js models refuse --device and --execution-provider in one line (their device is --backend)', () => {
    const graph = exported.writeDemoMlpGraphModel(join(tempDir(), 'graph'));
    const data = ['--inputs', join(exported.DATA_DIR, 'fmnist-test.npz.gz'), '--scale', '1/255', '--limit', '16'];
    expectBadInput(surgeon(['eval', graph, ...data, '--device', 'cpu']), /^surgeon: --device cpu applies to ONNX models \(onnxruntime\); \S+ is a TensorFlow\.js model: pick its device with --backend \(node-gpu for CUDA\), drop --device cpu$/);
    expectBadInput(surgeon(['eval', graph, ...data, '--execution-provider', 'cuda']), /^surgeon: --execution-provider cuda applies to ONNX models/);
  });
});
