/**
 * Gradient kernels the tfjs wasm backend (4.22) lacks or gets wrong, registered for `wasm` only:
 *
 * - `Conv2DBackpropFilter`: the filter gradient of a convolution is itself one forward
 *   convolution with the batch and channel axes swapped:
 *   dW[kh,kw,ci,co] = Σ_{b,oh,ow} x[b, oh·s + kh − pt, ow·s + kw − pl, ci] · dy[b,oh,ow,co]
 *   is conv2d(xᵀ[ci,H,W,b], dyᵀ[oh,ow,b,co], stride 1, dilation s) cropped to kh × kw and
 *   transposed back — so it runs in XNNPACK at forward speed.
 * - `DepthwiseConv2dNativeBackpropFilter` and `DepthwiseConv2dNativeBackpropInput`: direct loops
 *   on typed arrays (depthwise filters are small).
 * - `MaxPoolGrad`: wasm routes no gradient to windows whose values are all negative; replaced by a
 *   direct loop that sends dy to the first maximum of each window (the cpu backend's rule).
 */
import * as tf from '@tensorflow/tfjs';

type Info = tf.TensorInfo;
interface WasmLike {
  readSync(dataId: tf.DataId): unknown;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  makeOutput(shape: number[], dtype: tf.DataType): Info;
  typedArrayFromHeap(info: Info): Float32Array;
}
type Attrs = Record<string, unknown>;
type KernelArgs = { inputs: Record<string, Info>; backend: unknown; attrs?: Attrs };

const BACKEND = 'wasm';

function call(name: string, args: KernelArgs): Info {
  const kernel = tf.getKernel(name, BACKEND);
  if (!kernel) throw new Error(`wasm kernel ${name} missing`);
  return kernel.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0]) as Info;
}

function output(backend: WasmLike, shape: number[], values: Float32Array): Info {
  const out = backend.makeOutput(shape, 'float32');
  backend.typedArrayFromHeap(out).set(values);
  return out;
}

function read(backend: WasmLike, info: Info): Float32Array {
  return backend.readSync(info.dataId) as Float32Array;
}

function convInfo(xShape: number[], filterShape: number[], attrs: Attrs, depthwise: boolean): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number] | number,
    (attrs.dilations as [number, number] | number | undefined) ?? 1,
    attrs.pad as 'valid' | 'same' | number,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    depthwise,
  );
}

/** Conv2DBackpropFilter as a forward conv with swapped axes (see the module comment). */
function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): Info {
  const { x, dy } = inputs as { x: Info; dy: Info };
  const a = attrs!;
  if (a.dataFormat && a.dataFormat !== 'NHWC' && a.dataFormat !== 'channelsLast') throw new Error('Conv2DBackpropFilter (wasm): only NHWC');
  const filterShape = a.filterShape as number[];
  const info = convInfo(x.shape, filterShape, a, false);
  const [kh, kw] = [info.filterHeight, info.filterWidth];
  const [sh, sw] = [info.strideHeight, info.strideWidth];
  const [H, W] = [info.inHeight, info.inWidth];
  const [oh, ow] = [info.outHeight, info.outWidth];
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const bottom = Math.max(0, kh - H - top + (oh - 1) * sh);
  const right = Math.max(0, kw - W - left + (ow - 1) * sw);
  const temps: Info[] = [];
  const xt = call('Transpose', { inputs: { x }, backend, attrs: { perm: [3, 1, 2, 0] } }); // [ci,H,W,B]
  temps.push(xt);
  const dyt = call('Transpose', { inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } }); // [oh,ow,B,co]
  temps.push(dyt);
  const conv = call('Conv2D', {
    inputs: { x: xt, filter: dyt },
    backend,
    attrs: { strides: [1, 1], pad: [[0, 0], [top, bottom], [left, right], [0, 0]], dataFormat: 'NHWC', dilations: [sh, sw], dimRoundingMode: undefined },
  }); // [ci, ≥kh, ≥kw, co]
  temps.push(conv);
  let cropped = conv;
  if (conv.shape[1] !== kh || conv.shape[2] !== kw) {
    cropped = call('Slice', { inputs: { x: conv }, backend, attrs: { begin: [0, 0, 0, 0], size: [conv.shape[0], kh, kw, conv.shape[3]] } });
    temps.push(cropped);
  }
  const out = call('Transpose', { inputs: { x: cropped }, backend, attrs: { perm: [1, 2, 0, 3] } }); // [kh,kw,ci,co]
  for (const t of temps) (backend as WasmLike).disposeData(t.dataId);
  return out;
}

/**
 * Visits every (output position, filter tap) pair of a depthwise convolution that reads a pixel
 * inside the input: `visit(xBase, wBase, dyBase)` with the offsets of x[b,ih,iw,0],
 * w[kh,kw,0,0] and dy[b,oh,ow,0] (channels, then multipliers, contiguous from there).
 */
function forEachDepthwiseTap(info: tf.backend_util.Conv2DInfo, M: number, visit: (xBase: number, wBase: number, dyBase: number) => void): void {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW } = info;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const dyBase = ((b * OH + oh) * OW + ow) * C * M;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * info.strideHeight + kh * info.dilationHeight - info.padInfo.top;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * info.strideWidth + kw * info.dilationWidth - info.padInfo.left;
            if (iw < 0 || iw >= W) continue;
            visit(((b * H + ih) * W + iw) * C, (kh * KW + kw) * C * M, dyBase);
          }
        }
      }
    }
  }
}

/** Depthwise filter gradient by direct loops: dW[kh,kw,c,m] = Σ x[b,ih,iw,c]·dy[b,oh,ow,c·M+m]. */
function depthwiseBackpropFilter({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as WasmLike;
  const { x, dy } = inputs as { x: Info; dy: Info };
  const filterShape = attrs!.filterShape as number[];
  const info = convInfo(x.shape, filterShape, attrs!, true);
  const xs = read(be, x);
  const dys = read(be, dy);
  const C = info.inChannels;
  const M = info.outChannels / C;
  const dW = new Float32Array(info.filterHeight * info.filterWidth * C * M);
  forEachDepthwiseTap(info, M, (xBase, wBase, dyBase) => {
    for (let c = 0; c < C; c++) {
      const xv = xs[xBase + c]!;
      for (let m = 0; m < M; m++) dW[wBase + c * M + m]! += xv * dys[dyBase + c * M + m]!;
    }
  });
  return output(be, filterShape, dW);
}

/** Depthwise input gradient by direct loops: dx[b,ih,iw,c] = Σ w[kh,kw,c,m]·dy[b,oh,ow,c·M+m]. */
function depthwiseBackpropInput({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as WasmLike;
  const { dy, filter } = inputs as { dy: Info; filter: Info };
  const inputShape = attrs!.inputShape as number[];
  const info = convInfo(inputShape, filter.shape, attrs!, true);
  const ws = read(be, filter);
  const dys = read(be, dy);
  const C = info.inChannels;
  const M = info.outChannels / C;
  const dx = new Float32Array(info.batchSize * info.inHeight * info.inWidth * C);
  forEachDepthwiseTap(info, M, (xBase, wBase, dyBase) => {
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let m = 0; m < M; m++) s += ws[wBase + c * M + m]! * dys[dyBase + c * M + m]!;
      dx[xBase + c]! += s;
    }
  });
  return output(be, inputShape, dx);
}

/** MaxPoolGrad: dy goes to the first maximum of each window (ties: first in row-major order). */
function maxPoolGrad({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as WasmLike;
  const { dy, input } = inputs as { dy: Info; input: Info };
  const a = attrs!;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    a.filterSize as [number, number] | number,
    a.strides as [number, number] | number,
    1,
    a.pad as 'valid' | 'same' | number,
    a.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  const xs = read(be, input);
  const dys = read(be, dy);
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const dx = new Float32Array(B * H * W * C);
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const h0 = oh * info.strideHeight - info.padInfo.top;
      for (let ow = 0; ow < OW; ow++) {
        const w0 = ow * info.strideWidth - info.padInfo.left;
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let at = -1;
          for (let kh = 0; kh < info.effectiveFilterHeight; kh += info.dilationHeight) {
            const ih = h0 + kh;
            if (ih < 0 || ih >= H) continue;
            for (let kw = 0; kw < info.effectiveFilterWidth; kw += info.dilationWidth) {
              const iw = w0 + kw;
              if (iw < 0 || iw >= W) continue;
              const idx = ((b * H + ih) * W + iw) * C + c;
              const v = xs[idx]!;
              if (v > best || at < 0) {
                best = v;
                at = idx;
              }
            }
          }
          if (at >= 0) dx[at]! += dys[((b * OH + oh) * OW + ow) * C + c]!;
        }
      }
    }
  }
  return output(be, input.shape, dx);
}

let registered = false;

/**
 * Registers the kernels of this module for the `wasm` backend (idempotent). Call before
 * `tf.setBackend('wasm')`; {@link selectBackend} does.
 */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  const replace = (kernelName: string, kernelFunc: (args: KernelArgs) => Info) => {
    if (tf.getKernel(kernelName, BACKEND)) tf.unregisterKernel(kernelName, BACKEND);
    tf.registerKernel({ kernelName, backendName: BACKEND, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  };
  replace('Conv2DBackpropFilter', conv2DBackpropFilter);
  replace('DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter);
  replace('DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput);
  replace('MaxPoolGrad', maxPoolGrad);
}
