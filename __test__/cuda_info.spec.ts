// cudaInfo() and the device check against addons this machine cannot load: the CUDA build (with
// and without GPUs), and a CPU build without the CUDA probes (an older build named by
// BEIT_NODE_BINARY). The addon is replaced by a stub; the real one is in cuda.spec.ts.
import { afterEach, describe, expect, it, vi } from 'vitest';

const stub = vi.hoisted(() => ({
  native: {} as Record<string, unknown>,
  nativeCudaReason: undefined as string | undefined,
}));
vi.mock('../ts/native.js', () => ({
  get native() {
    return stub.native;
  },
  get nativeCudaReason() {
    return stub.nativeCudaReason;
  },
}));
const { checkCudaDevice, cudaInfo } = await import('../ts/cuda.js');

afterEach(() => {
  stub.native = {};
  stub.nativeCudaReason = undefined;
});

describe('cudaInfo and the CUDA device check', () => {
  it('with the CUDA build: the devices it sees, no reason, and no check of its own', () => {
    stub.native = { cudaBuild: () => true, cudaDevices: () => 2 };
    expect(cudaInfo()).toEqual({ build: true, devices: 2 });
    // The addon's errors (no GPU, cuda:7 on a two-GPU machine) say more: they pass through.
    stub.native = { cudaBuild: () => true, cudaDevices: () => 0 };
    expect(() => checkCudaDevice('cuda:7')).not.toThrow();
  });

  it("with a CPU build: the loader's reason, in the error of a 'cuda' request", () => {
    stub.native = { cudaBuild: () => false, cudaDevices: () => 0 };
    stub.nativeCudaReason = 'the CUDA package beit-node-linux-x64-gnu-cuda is installed but did not load: libcuda.so.1';
    expect(cudaInfo()).toEqual({ build: false, devices: 0, reason: stub.nativeCudaReason });
    expect(() => checkCudaDevice('cuda')).toThrow(
      expect.objectContaining({ code: 'E_CUDA_UNAVAILABLE', message: expect.stringContaining(stub.nativeCudaReason) }),
    );
    expect(() => checkCudaDevice('cpu')).not.toThrow();
    expect(() => checkCudaDevice(undefined)).not.toThrow();
  });

  it('with an addon that predates the CUDA probes: no CUDA build', () => {
    expect(cudaInfo()).toEqual({
      build: false,
      devices: 0,
      reason: 'the beit-node binary in use was built without CUDA.',
    });
    expect(() => checkCudaDevice('cuda:0')).toThrow(expect.objectContaining({ code: 'E_CUDA_UNAVAILABLE' }));
  });
});
