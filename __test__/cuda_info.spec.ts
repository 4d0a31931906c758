// cudaInfo() and the device check against addons this machine cannot load: the CUDA build (with
// and without GPUs), and a CPU build without the CUDA probes (an older build named by
// BEIT_NODE_BINARY). The addon is replaced by a stub; the real one is in cuda.spec.ts.
import { afterEach, describe, expect, it, vi } from 'vitest';

const stub = vi.hoisted(() => ({
  native: {} as Record<string, unknown>,
  nativeCudaReason: undefined as string | undefined,
  nativeCudaLibraries: undefined as Record<string, string> | undefined,
}));
vi.mock('../ts/native.js', () => ({
  get native() {
    return stub.native;
  },
  get nativeCudaReason() {
    return stub.nativeCudaReason;
  },
  get nativeCudaLibraries() {
    return stub.nativeCudaLibraries;
  },
}));
const { canonicalDevice, checkCudaDevice, cudaInfo, resolveDevice } = await import('../ts/cuda.js');

afterEach(() => {
  stub.native = {};
  stub.nativeCudaReason = undefined;
  stub.nativeCudaLibraries = undefined;
});

describe('cudaInfo and the CUDA device check', () => {
  it('with the CUDA build: the devices it sees, no reason, and no check of its own', () => {
    stub.native = { cudaBuild: () => true, cudaDevices: () => 2 };
    expect(cudaInfo()).toEqual({ build: true, devices: 2, auto: 'cuda' });
    stub.nativeCudaLibraries = { 'libcublas.so.13': '/site/nvidia/cu13/lib/libcublas.so.13' };
    expect(cudaInfo().libraries).toEqual(stub.nativeCudaLibraries);
    // The addon's errors (no GPU, cuda:7 on a two-GPU machine) say more: they pass through.
    stub.native = { cudaBuild: () => true, cudaDevices: () => 0 };
    expect(() => checkCudaDevice('cuda:7')).not.toThrow();
  });

  it("with a CPU build: the loader's reason, in the error of a 'cuda' request", () => {
    stub.native = { cudaBuild: () => false, cudaDevices: () => 0 };
    stub.nativeCudaReason = 'the CUDA package beit-node-linux-x64-gnu-cuda is installed but did not load: libcuda.so.1';
    expect(cudaInfo()).toEqual({ build: false, devices: 0, reason: stub.nativeCudaReason, auto: 'cpu' });
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
      auto: 'cpu',
    });
    expect(() => checkCudaDevice('cuda:0')).toThrow(expect.objectContaining({ code: 'E_CUDA_UNAVAILABLE' }));
  });

  it("resolves device 'auto' to the GPU only when one is usable, and leaves explicit devices alone", () => {
    stub.native = { cudaBuild: () => true, cudaDevices: () => 1 };
    expect(resolveDevice('auto')).toBe('cuda');
    expect(resolveDevice(' AUTO ')).toBe('cuda');
    stub.native = { cudaBuild: () => true, cudaDevices: () => 0 };
    expect(resolveDevice('auto')).toBe('cpu');
    expect(cudaInfo().auto).toBe('cpu');
    // An explicit 'cuda' is never turned into the CPU: the addon refuses it where there is no GPU.
    expect(resolveDevice('cuda')).toBe('cuda');
    stub.native = { cudaBuild: () => false, cudaDevices: () => 0 };
    expect(resolveDevice('auto')).toBe('cpu');
    expect(() => checkCudaDevice(resolveDevice('auto'))).not.toThrow();
    expect(() => checkCudaDevice(resolveDevice('cuda'))).toThrow(
      expect.objectContaining({ code: 'E_CUDA_UNAVAILABLE' }),
    );
    expect(resolveDevice(undefined)).toBeUndefined();
  });

  it('names devices as the model reports them', () => {
    expect(canonicalDevice(undefined)).toBe('cpu');
    expect(canonicalDevice('cuda')).toBe('cuda:0');
    expect(canonicalDevice('CUDA:1')).toBe('cuda:1');
  });
});
